"""Following a rollout from the progress workers write to Redis, for `segstream rules publish`."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from streams.dependencies import redis_client
from streams.redis_connection import reply_text
from streams.rollout.receipts import confirmed_partitions, receipts
from streams.settings import Settings
from streams.sink.redis_keys import rollout_key


@dataclass(frozen=True, slots=True)
class RolloutState:
    version: str
    partitions: int
    partitions_done: int
    scanned: int
    total: int
    stale: int
    processed: int
    rejected: str | None = None  # a worker refused this version: why
    readers: int | None = None  # workers that have read this publish (None: not asked)

    @property
    def done(self) -> bool:
        return self.partitions_done == self.partitions

    @property
    def fraction(self) -> float:
        """Scanning and re-evaluating weigh alike; 1.0 once every partition is done."""
        if self.done:
            return 1.0
        scan = self.scanned / self.total if self.total else 0.0
        redo = self.processed / self.stale if self.stale else scan
        return min(0.999, (scan + redo) / 2)


def summarize(
    progress: Mapping[str, str], partitions: int, version: str, offset: int | None = None
) -> RolloutState:
    """The rollout of ``version`` over ``partitions`` partitions from the Redis rollout hash.

    With ``offset`` (where it was published on the rules topic), a partition is done only when a
    worker that has read that publish reports it done (streams/rollout/receipts.py), and only a
    refusal of that publish counts; without, any record of ``version`` does.

    >>> done = json.dumps({"version": "v2", "done": True, "scanned": 5, "total": 5,
    ...                    "stale": 2, "processed": 2})
    >>> summarize({"0": done, "1": done.replace("v2", "v1")}, 2, "v2").partitions_done
    1
    >>> summarize({"0": done, "1": done}, 2, "v2", offset=7).partitions_done  # nobody read it
    0
    """
    states = []
    for partition in range(partitions):
        raw = progress.get(str(partition))
        state = json.loads(raw) if raw else {}
        if state.get("version") == version:
            states.append((partition, state))
    done = {partition for partition, state in states if state.get("done")}
    readers = None
    if offset is not None:
        found = [receipt for receipt in receipts(progress) if receipt.offset > offset]
        readers = len(found)
        done = confirmed_partitions(found, version, offset) & set(range(partitions))
    counts = [state for _, state in states]
    return RolloutState(
        version=version,
        partitions=partitions,
        partitions_done=len(done),
        scanned=sum(int(state.get("scanned", 0)) for state in counts),
        total=sum(int(state.get("total", 0)) for state in counts),
        stale=sum(int(state.get("stale", 0)) for state in counts),
        processed=sum(int(state.get("processed", 0)) for state in counts),
        rejected=_refusal(progress, version, offset),
        readers=readers,
    )


def _refusal(progress: Mapping[str, str], version: str, offset: int | None) -> str | None:
    rejected = json.loads(progress["rejected"]) if progress.get("rejected") else None
    if not rejected or rejected.get("version") != version:
        return None
    refused_at = rejected.get("offset")
    if offset is not None and refused_at is not None and refused_at != offset:
        return None  # an earlier publish of the same files was refused, not this one
    return str(rejected.get("problems", "rejected"))


def progress_line(state: RolloutState, elapsed_s: float, width: int = 30) -> str:
    """``[#####.....]  50%  ...`` for one rollout.

    >>> progress_line(RolloutState("v", 8, 4, 100, 200, 10, 5), 2.0, width=10)
    '[#####.....]  50%  4/8 partitions, 100/200 profiles scanned, 5/10 re-evaluated, 2.0s'
    """
    filled = int(state.fraction * width)
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {state.fraction:4.0%}  "
        f"{state.partitions_done}/{state.partitions} partitions, "
        f"{state.scanned}/{state.total} profiles scanned, "
        f"{state.processed}/{state.stale} re-evaluated, {elapsed_s:.1f}s"
    )


def wait_for_rollout(
    settings: Settings,
    version: str,
    *,
    timeout_s: float,
    show: Callable[[RolloutState, float], None],
    offset: int | None = None,
    read_timeout_s: float = 30.0,
    poll_s: float = 0.2,
) -> RolloutState:
    """Poll until every partition reports ``version`` done, a worker rejects it, or time is up.

    With ``offset`` (this publish's), only workers that have read it count, and when none has
    within ``read_timeout_s`` no worker is running: waiting longer would not help.
    """
    client = redis_client(settings)
    started = time.monotonic()
    try:
        while True:
            raw = client.hgetall(rollout_key(settings.redis_key_prefix))
            progress = {reply_text(k): reply_text(v) for k, v in raw.items()}
            state = summarize(progress, settings.topic_partitions, version, offset)
            elapsed = time.monotonic() - started
            show(state, elapsed)
            unread = state.readers == 0 and elapsed > min(read_timeout_s, timeout_s)
            if state.done or state.rejected or unread or elapsed > timeout_s:
                return state
            time.sleep(poll_s)
    finally:
        client.close()


def terminal_progress(state: RolloutState, elapsed_s: float) -> None:
    """A progress bar redrawn in place on a terminal; a line every few seconds otherwise."""
    line = progress_line(state, elapsed_s)
    if sys.stdout.isatty():
        print("\r" + line, end="" if not state.done else "\n", flush=True)
    elif state.done or int(elapsed_s * 5) % 10 == 0:
        print(line, flush=True)
