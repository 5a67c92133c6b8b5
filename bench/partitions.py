"""Latency against partitions per worker, at one rate: does a shorter round shorten the wait?

The rebatcher sends one envelope per partition in a round, and every envelope has a fixed cost, so
a worker that owns fewer partitions runs shorter rounds. This measures one worker at the same
paced rate over topics of each partition count, in the order given and then again, so that drift
of the shared machine shows as a difference between the two passes (after an unmeasured run that
warms the broker up)::

    bash scripts/bench.sh partitions                  # 8, 4, 2 at half the suite's throughput
    python -m bench.partitions --rate 2200 --counts 8 2

Merges ``latency_p50_ms_partitions_N`` and ``latency_p99_ms_partitions_N`` (one value per pass)
and ``latency_partitions_rate`` into bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import RESULTS, merge_results
from bench.latency import Level, run_level
from bench.throughput import bench_settings, workers
from bench.workload import simulated_events
from streams.dependencies import ensure_topics
from streams.settings import Settings

MEASURED_S = 15.0
WARM_UP_S = 8.0  # the paced run before the measured one: new topics, caches and group joins
PASSES = 2


def measure(base: Settings, work: Path, partitions: int, rate: float) -> Level:
    settings = bench_settings(base, work, f"p{partitions}", topic_partitions=partitions)
    ensure_topics(settings)
    background = iter(list(simulated_events(int(rate * (MEASURED_S + WARM_UP_S) * 1.2) + 1000)))
    with workers(settings, 1, work) as group:
        url = group.stats_urls[0]
        for seconds, prefix in ((WARM_UP_S, "warm-"), (MEASURED_S, None)):
            level = run_level(
                settings,
                stats_url=url,
                background=background,
                fraction=1.0,
                max_rate=rate,
                seconds=seconds,
                worker_pid=group.processes[0].pid,
                probe_prefix=prefix,
            )
        return level  # the measured run, after the warm-up


def _half_the_suites_throughput() -> float:
    if not RESULTS.exists():
        raise SystemExit("no bench/results.json: run the suite first, or pass --rate")
    rate: float = json.loads(RESULTS.read_text())["throughput_events_per_s"] / 2
    return rate


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.partitions", description=__doc__)
    parser.add_argument("--rate", type=float, help="events/s (default: half the suite's)")
    parser.add_argument("--counts", type=int, nargs="+", default=[8, 4, 2])
    args = parser.parse_args(argv)
    rate = args.rate or _half_the_suites_throughput()
    values: dict[str, Any] = {"latency_partitions_rate": round(rate)}
    with tempfile.TemporaryDirectory(prefix="segstream-partitions-") as tmp:
        # bench.sh starts a fresh broker, which runs slow while its JIT compiles: not measured.
        _print(args.counts[0], measure(Settings(), Path(tmp), args.counts[0], rate), "warm-up: ")
        for _ in range(PASSES):
            for partitions in args.counts:
                level = measure(Settings(), Path(tmp), partitions, rate)
                _print(partitions, level)
                for name in ("p50", "p99"):
                    key = f"latency_{name}_ms_partitions_{partitions}"
                    values.setdefault(key, []).append(round(getattr(level, f"{name}_ms"), 1))
    merge_results(values)


def _print(partitions: int, level: Level, label: str = "") -> None:
    worker = "" if level.worker is None else f"; {level.worker.describe()}"
    print(
        f"{label}{partitions} partitions at {level.sent_per_s:,.0f}/s: p50 {level.p50_ms:.0f} "
        f"p95 {level.p95_ms:.0f} p99 {level.p99_ms:.0f} ms{worker}",
        flush=True,
    )


if __name__ == "__main__":
    main()
