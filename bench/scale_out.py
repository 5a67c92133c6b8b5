"""Scale-out: CPU per event with 1, 2 and 3 workers of one deployment on the same events.

Every deployment reads the same pre-produced topic of simulated sessions from the start (its own
app id, so its own consumer groups and tables). CPU per event is the workers' CPU seconds summed
over the steady part of the run (every worker consuming, before partitions finish one by one)
divided by the events applied in it: on a 2-core machine the rate cannot grow with a third worker,
but the work per event must not. With the rebatchers following the agents' assignment, no envelope
crosses to another worker: ``envelopes_made_for_unowned_partitions`` stays 0 and is reported.

Counts run in the order 1, 2, 3, 3, 2, 1 and each count's two runs are averaged, so a machine that
warms up or slows down during the run weighs on every count alike::

    bash scripts/bench.sh scale_out
    python -m bench.scale_out --events 150000

Merges ``scale_cpu_us_per_event_1w``, ``_2w``, ``_3w``, their ratios to one worker's
(``scale_cpu_ratio_2w``, ``_3w``), ``scale_envelopes_crossed`` and ``scale_events`` into
bench/results.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import merge_results
from bench.meter import Run, follow
from bench.throughput import bench_settings, produce_sessions, worker_stats, workers
from streams.settings import Settings

COUNTS = (1, 2, 3)
CROSSED = "envelopes_made_for_unowned_partitions"


def workers_cpu_us_per_event(run: Run) -> float:
    """All workers' CPU per applied event (Kafka's and Redis' left out: they are shared)."""
    cpu = run.cpu_us_per_event()
    return sum(us for name, us in cpu.items() if name.startswith("worker"))


def measure(settings: Settings, count: int, events: int, work: Path) -> tuple[float, int]:
    """``count`` workers through ``events``: steady CPU per event, and envelopes that crossed."""
    with workers(settings, count, work) as group:
        run = follow(group.stats_urls, events, group.pids, alive=group.alive, field="applied")
        crossed = sum(worker_stats(url)[CROSSED] for url in group.stats_urls)
    return workers_cpu_us_per_event(run.steady()), crossed


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
    parser.add_argument("--events", type=int, default=150_000)
    args = parser.parse_args(argv)
    base = Settings()
    with tempfile.TemporaryDirectory(prefix="segstream-scale-out-") as tmp:
        values = scale_out(base, args.events, Path(tmp))
    merge_results(values | {"scale_load_average_after": list(os.getloadavg())})
    for key, value in values.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
