"""`segstream resync [--partition P ...]`: rebuild Redis from the profiles on demand.

It deletes the partitions' resync markers (see :mod:`streams.schedule.resync`); each owning
worker notices within ``SEGSTREAM_RESYNC_CHECK_INTERVAL_S``, rewrites the partition's customers
and writes the marker again. The command follows that with a progress bar on stderr, from the
scan progress workers report in Redis (as `rules publish` does), until every marker is back.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import cast

import redis

from streams.cli_args import positive
from streams.dependencies import redis_client
from streams.errors import EXIT_OK, EXIT_UNAVAILABLE, SegstreamError
from streams.pipeline.batch import RESYNC_REASON
from streams.rollout.wait import RolloutState, progress_line
from streams.schedule.resync import DONE, Marker
from streams.settings import Settings
from streams.sink.aggregates import get_each
from streams.sink.redis_keys import partition_epoch_key, rollout_key

POLL_S = 0.2
# A worker marks a partition "resyncing" at its next check, SEGSTREAM_RESYNC_CHECK_INTERVAL_S at
# most after the request; none within this many intervals (and at least PICKED_UP_MIN_S): none runs.
PICKED_UP_INTERVALS = 3
PICKED_UP_MIN_S = 10.0


def add_resync_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    resync = sub.add_parser(
        "resync", help="rewrite every customer of some or all partitions to Redis from the profiles"
    )
    resync.add_argument(
        "--partition",
        type=partition_number,
        action="append",
        default=None,
        metavar="P",
        help="a partition of the events topic (repeat it; default: all)",
    )
    resync.add_argument("--timeout", type=positive, default=600.0, help="wait at most (s)")
    resync.add_argument("--json", action="store_true", help="the outcome as JSON on stdout")
    resync.set_defaults(run=run_resync)


def partition_number(text: str) -> int:
    """A partition: a whole number >= 0 (argparse's usage error otherwise)."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def run_resync(args: argparse.Namespace, settings: Settings) -> int:
    partitions = chosen_partitions(args.partition, settings.topic_partitions)
    client = redis_client(settings)
    try:
        request_resync(client, settings.redis_key_prefix, partitions)
        started = time.monotonic()
        picked_up_s = max(PICKED_UP_MIN_S, PICKED_UP_INTERVALS * settings.resync_check_interval_s)
        state, picked_up = wait_for_resync(
            client, settings.redis_key_prefix, partitions, args.timeout,
            show=_terminal_bar, picked_up_s=picked_up_s,
        )  # fmt: skip
    finally:
        client.close()
    elapsed = time.monotonic() - started
    if args.json:
        print(json.dumps(_outcome(state, partitions, elapsed)))
    if state.done:
        if not args.json:
            print(f"resynced {len(partitions)} partition(s) in {elapsed:.1f}s: "
                  f"{state.processed:,} customers rewritten")  # fmt: skip
        return EXIT_OK
    if sys.stderr.isatty():
        print(file=sys.stderr)  # below the progress bar
    line = not_confirmed(state, picked_up, settings.app_id, elapsed)
    print(f"segstream: {line}", file=sys.stderr)
    return EXIT_UNAVAILABLE


def not_confirmed(state: RolloutState, picked_up: bool, app_id: str, elapsed_s: float) -> str:
    """The one line for a resync not seen to the end.

    >>> nothing = RolloutState("resync", 8, 0, 0, 0, 0, 0)
    >>> not_confirmed(nothing, False, "shop", 10.0)[:53]
    'no worker of app shop started the resync within 10s: '
    >>> not_confirmed(RolloutState("resync", 8, 3, 0, 0, 0, 0), True, "shop", 600.0)[:52]
    'resync not confirmed: 3/8 partitions resynced within'
    """
    if not picked_up:
        return (
            f"no worker of app {app_id} started the resync within {elapsed_s:.0f}s: is one "
            "running? The markers stay deleted, so workers resync these partitions when they start"
        )
    return (
        f"resync not confirmed: {state.partitions_done}/{state.partitions} partitions resynced "
        f"within {elapsed_s:.0f}s; the workers go on with the rest"
    )


def chosen_partitions(asked: Sequence[int] | None, count: int) -> list[int]:
    """The partitions to resync: those asked for (each checked), or all ``count``.

    >>> chosen_partitions(None, 3), chosen_partitions([2, 0, 2], 3)
    ([0, 1, 2], [0, 2])
    """
    if not asked:
        return list(range(count))
    wrong = sorted({p for p in asked if not 0 <= p < count})
    if wrong:
        raise SegstreamError(
            f"no partition {wrong[0]}: the topics have {count} (0 to {count - 1}, "
            "SEGSTREAM_TOPIC_PARTITIONS)"
        )
    return sorted(set(asked))


def request_resync(client: redis.Redis, prefix: str, partitions: Sequence[int]) -> None:
    """Delete the partitions' markers: their owners resync them at their next check."""
    client.delete(*(partition_epoch_key(prefix, p) for p in partitions))


def resync_state(
    markers: Mapping[int, Marker | None], progress: Mapping[str, str], partitions: Sequence[int]
) -> RolloutState:
    """How far the resync of ``partitions`` is: done ones have their marker back ``done``; the
    counts come from the workers' resync scans.

    >>> scan = json.dumps({"reason": "resync", "scanned": 4, "total": 4, "stale": 4,
    ...                    "processed": 1})
    >>> done = Marker(DONE, "t", 1.0)
    >>> state = resync_state({0: done, 1: None}, {"0": scan, "1": scan}, [0, 1])
    >>> (state.partitions_done, state.processed, state.stale, state.done)
    (1, 2, 8, False)
    """
    done = [p for p in partitions if (m := markers.get(p)) is not None and m.state == DONE]
    scans = [json.loads(progress[str(p)]) for p in partitions if progress.get(str(p))]
    scans = [scan for scan in scans if scan.get("reason") == RESYNC_REASON]
    return RolloutState(
        version=RESYNC_REASON,
        partitions=len(partitions),
        partitions_done=len(done),
        scanned=sum(int(scan.get("scanned", 0)) for scan in scans),
        total=sum(int(scan.get("total", 0)) for scan in scans),
        stale=sum(int(scan.get("stale", 0)) for scan in scans),
        processed=sum(int(scan.get("processed", 0)) for scan in scans),
    )


def wait_for_resync(
    client: redis.Redis,
    prefix: str,
    partitions: Sequence[int],
    timeout_s: float,
    *,
    show: Callable[[RolloutState, float], None],
    picked_up_s: float | None = None,
) -> tuple[RolloutState, bool]:
    """Poll the markers and the workers' progress until every marker is back or time is up, or
    until ``picked_up_s`` passed with no marker written again (no worker runs). Also returns
    whether a worker picked the resync up."""
    started = time.monotonic()
    keys = [partition_epoch_key(prefix, p) for p in partitions]
    picked_up = False
    while True:
        values = get_each(client, keys)
        markers = {p: Marker.decode(v) for p, v in zip(partitions, values, strict=True)}
        raw = cast(dict[bytes, bytes], client.hgetall(rollout_key(prefix)))
        progress = {k.decode(): v.decode() for k, v in raw.items()}
        state = resync_state(markers, progress, partitions)
        picked_up = picked_up or any(m is not None for m in markers.values())
        elapsed = time.monotonic() - started
        show(state, elapsed)
        unread = not picked_up and picked_up_s is not None and elapsed > picked_up_s
        if state.done or unread or elapsed > timeout_s:
            return state, picked_up
        time.sleep(POLL_S)


def _terminal_bar(state: RolloutState, elapsed_s: float) -> None:
    """Redrawn in place on a terminal's stderr; nothing when stderr is not one."""
    if sys.stderr.isatty():
        end = "\n" if state.done else ""
        print("\r" + progress_line(state, elapsed_s), end=end, file=sys.stderr, flush=True)


def _outcome(state: RolloutState, partitions: Sequence[int], elapsed_s: float) -> dict[str, object]:
    return {
        "partitions": list(partitions),
        "partitions_done": state.partitions_done,
        "done": state.done,
        "customers_rewritten": state.processed,
        "seconds": round(elapsed_s, 3),
    }
