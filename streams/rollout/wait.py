"""Following a rollout from the progress workers write to Redis, for `segstream rules publish`."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from streams.dependencies import redis_client
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


def summarize(progress: Mapping[str, str], partitions: int, version: str) -> RolloutState:
    """The rollout of ``version`` over ``partitions`` partitions from the Redis rollout hash.

    >>> done = json.dumps({"version": "v2", "done": True, "scanned": 5, "total": 5,
    ...                    "stale": 2, "processed": 2})
    >>> summarize({"0": done, "1": done.replace("v2", "v1")}, 2, "v2").partitions_done
    1
    """
    states = []
    for partition in range(partitions):
        raw = progress.get(str(partition))
        state = json.loads(raw) if raw else {}
        if state.get("version") == version:
            states.append(state)
    rejected = json.loads(progress["rejected"]) if progress.get("rejected") else None
    refusal = None
    if rejected and rejected.get("version") == version:
        refusal = str(rejected.get("problems", "rejected"))
    return RolloutState(
        version=version,
        partitions=partitions,
        partitions_done=sum(1 for state in states if state.get("done")),
        scanned=sum(int(state.get("scanned", 0)) for state in states),
        total=sum(int(state.get("total", 0)) for state in states),
        stale=sum(int(state.get("stale", 0)) for state in states),
        processed=sum(int(state.get("processed", 0)) for state in states),
        rejected=refusal,
    )


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
    poll_s: float = 0.2,
) -> RolloutState:
    """Poll until every partition reports ``version`` done, a worker rejects it, or time is up."""
    client = redis_client(settings)
    started = time.monotonic()
    try:
        while True:
            raw = client.hgetall(rollout_key(settings.redis_key_prefix))
            progress = {_text(k): _text(v) for k, v in raw.items()}
            state = summarize(progress, settings.topic_partitions, version)
            elapsed = time.monotonic() - started
            show(state, elapsed)
            if state.done or state.rejected or elapsed > timeout_s:
                return state
            time.sleep(poll_s)
    finally:
        client.close()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def terminal_progress(state: RolloutState, elapsed_s: float) -> None:
    """A progress bar redrawn in place on a terminal; a line every few seconds otherwise."""
    line = progress_line(state, elapsed_s)
    if sys.stdout.isatty():
        print("\r" + line, end="" if not state.done else "\n", flush=True)
    elif state.done or int(elapsed_s * 5) % 10 == 0:
        print(line, flush=True)
