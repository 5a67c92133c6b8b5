"""Scale-out: CPU per event with 1, 2 and 3 workers of one deployment on the same events.

Every deployment reads the same pre-produced topic of simulated sessions from the start (its own
app id, so its own consumer groups and tables). CPU per event is the workers' CPU seconds summed
over the steady part of the run divided by the events applied in it: from the moment the group
has settled (every worker owns partitions and its standby copies have caught up, see
:func:`measure`) until 95% of the events, before partitions finish one by one. Joining is a cost
of its own, once per rebalance: ``failover_stall_*`` (bench.failover) measures it. On a
2-core machine the rate cannot grow with a third worker, but the work per event must not. With
the rebatchers following the agents' assignment, no envelope crosses to another worker once the
group has settled: ``envelopes_made_for_unowned_partitions`` stays 0 from then on, and the count
is reported (while members join, a rebatcher may still send a round for a partition revoked
meanwhile).

Counts run in the order 1, 2, 3, 3, 2, 1 and each count's two runs are averaged, so a machine that
warms up or slows down during the run weighs on every count alike::

    bash scripts/bench.sh scale_out
    python -m bench.scale_out --events 300000

Merges ``scale_cpu_us_per_event_1w``, ``_2w``, ``_3w``, their ratios to one worker's
(``scale_cpu_ratio_2w``, ``_3w``), ``scale_envelopes_crossed`` and ``scale_events`` into
bench/results.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.harness import merge_results
from bench.meter import Run, follow
from bench.throughput import bench_settings, produce_sessions, worker_stats, workers
from streams.ops.scrape import scrape
from streams.settings import Settings

COUNTS = (1, 2, 3)
SETTLE_TIMEOUT_S = 180.0
STANDBY_METRIC = "segstream_table_recovery_remaining_records"
CROSSED = "envelopes_made_for_unowned_partitions"


def workers_cpu_us_per_event(run: Run) -> float:
    """All workers' CPU per applied event (Kafka's and Redis' left out: they are shared)."""
    cpu = run.cpu_us_per_event()
    return sum(us for name, us in cpu.items() if name.startswith("worker"))


def measure(settings: Settings, count: int, events: int, work: Path) -> tuple[float, int]:
    """``count`` workers through ``events``: steady CPU per event, and envelopes that crossed.

    The window opens once the group has settled (:func:`settled`): until then the workers join
    one by one, each join a rebalance, and each new member restores its partitions and catches up
    standby copies of the others' from the start of their changelogs, all of it work on events
    processed before. Counted in, it made a count's two runs differ by up to 60%."""
    with workers(settings, count, work) as group:
        applied_before = wait_settled(group.stats_urls, settings.topic_partitions, group.alive)
        if applied_before > events * 2 // 3:
            raise RuntimeError(
                f"{applied_before} of {events} events were applied before {count} workers "
                "settled: too few left to measure, produce more (--events)"
            )
        crossed_before = crossed(group.stats_urls)
        run = follow(group.stats_urls, events, group.pids, alive=group.alive, field="applied")
        crossed_in_run = crossed(group.stats_urls) - crossed_before
    return workers_cpu_us_per_event(run.steady(settle_s=0.0)), crossed_in_run


def crossed(stats_urls: Sequence[str]) -> int:
    """Envelopes the workers' rebatchers made for partitions their agents did not own."""
    return sum(worker_stats(url)[CROSSED] for url in stats_urls)


def wait_settled(stats_urls: Sequence[str], partitions: int, alive: Callable[[], bool]) -> int:
    """Wait until :func:`settled`; the events the workers applied until then."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("a worker exited before the group settled; see its log")
        stats = [_read_json(url) for url in stats_urls]
        remaining = [_standby_remaining(url) for url in stats_urls]
        if settled(stats, remaining, partitions):
            return sum(s["applied"] for s in stats if s is not None)
        time.sleep(0.2)
    raise RuntimeError(f"{len(stats_urls)} workers did not settle within {SETTLE_TIMEOUT_S:.0f}s")


def settled(stats: Sequence[Any], standby_remaining: Sequence[int | None], partitions: int) -> bool:
    """Every worker answers, owns partitions (together all of them, none twice) and has its
    standby copies caught up.

    >>> one = {"partitions": {"agent": [0, 1]}}
    >>> settled([one, {"partitions": {"agent": [2, 3]}}], [0, 0], partitions=4)
    True
    >>> settled([one, {"partitions": {"agent": [2, 3]}}], [0, 812], partitions=4)
    False
    >>> settled([one, {"partitions": {"agent": []}}], [0, 0], partitions=2)
    False

    Workers from before e4e4796 report Faust's own count, which goes below zero once a standby
    copy follows the changelog as it is written (seen: -3,000 to -8,000 with three workers), so
    at most zero is caught up:

    >>> settled([one, {"partitions": {"agent": [2, 3]}}], [0, -6728], partitions=4)
    True
    """
    if any(s is None for s in stats) or any(r is None or r > 0 for r in standby_remaining):
        return False
    owned = [s["partitions"]["agent"] for s in stats]
    every = sorted(p for own in owned for p in own)
    return all(owned) and every == list(range(partitions))


def _read_json(url: str) -> Any:
    try:
        return worker_stats(url)
    except (OSError, ValueError):
        return None


def _standby_remaining(stats_url: str) -> int | None:
    """Changelog records the worker's standby copies still have to read (its /metrics)."""
    try:
        metrics = scrape(stats_url.removesuffix("/segstream/stats"))
    except OSError:
        return None
    left = metrics.value(STANDBY_METRIC, kind="standby")
    return 0 if left is None else int(left)  # none: no standby copies (a single worker)


def scale_out(base: Settings, events: int, work: Path) -> dict[str, Any]:
    topic_owner = bench_settings(base, work, "scale")
    produced = produce_sessions(topic_owner, events)
    order = [*COUNTS, *reversed(COUNTS)]
    readings: dict[int, list[float]] = {n: [] for n in COUNTS}
    crossed = 0
    for count in order:
        topic = topic_owner.events_topic
        settings = bench_settings(base, work, f"scale{count}w", events_topic=topic)
        us, moved = measure(settings, count, produced, work)
        print(f"{count} worker(s): {us:.1f} µs CPU/event, {moved} envelopes crossed", flush=True)
        readings[count].append(us)
        crossed += moved
    return summarize(readings, crossed, produced)


def summarize(readings: dict[int, list[float]], crossed: int, events: int) -> dict[str, Any]:
    """Each count's mean CPU per event, and its ratio to one worker's.

    >>> values = summarize({1: [40.0, 42.0], 2: [43.0, 45.0], 3: [46.0, 44.0]}, 0, 1000)
    >>> values["scale_cpu_ratio_2w"], values["scale_cpu_ratio_3w"]
    (1.07, 1.1)
    """
    mean = {n: statistics.fmean(values) for n, values in readings.items()}
    values: dict[str, Any] = {}
    for n, us in mean.items():
        values[f"scale_cpu_us_per_event_{n}w"] = round(us, 1)
        if n > 1:
            values[f"scale_cpu_ratio_{n}w"] = round(us / mean[1], 2)
    return values | {"scale_envelopes_crossed": crossed, "scale_events": events}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_out", description=__doc__)
    parser.add_argument("--events", type=int, default=300_000)
    args = parser.parse_args(argv)
    base = Settings()
    with tempfile.TemporaryDirectory(prefix="segstream-scale-out-") as tmp:
        values = scale_out(base, args.events, Path(tmp))
    merge_results(values | {"scale_load_average_after": list(os.getloadavg())})
    for key, value in values.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
