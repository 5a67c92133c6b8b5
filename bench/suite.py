"""The benchmark suite: throughput, profile, latency and scale of the worker, in one run.

    bash scripts/bench.sh --quick    # scaled down, under 10 minutes on 2 cores
    bash scripts/bench.sh --full     # 1M customers and longer runs

scripts/bench.sh starts a Kafka and a Redis of its own first. Merges its keys into
bench/results.json and writes bench/RESULTS.md with the machine, versions, date and plots
(bench/*.png). Every ratio is against a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import hotspots, pipeline
from bench.harness import merge_results
from bench.latency import STAGES, Level, pooled, run_level
from bench.meter import Run
from bench.plans import FULL, MILLION, QUICK, Plan
from bench.report import environment, load_warning, write_report
from bench.scale import footprint
from bench.throughput import (
    Workers,
    bench_settings,
    produce,
    produce_sessions,
    profile_worker,
    raw_consume,
    raw_loop,
    run_naive,
    run_workers,
    worker_stats,
    workers,
)
from bench.workload import basket_events, first_cdnow_events, line_items, simulated_events
from streams.dependencies import ensure_topics
from streams.ops.gc_pauses import GcPauses
from streams.settings import Settings

LOAD_FRACTIONS = (0.25, 0.5, 0.8)
# The target load is run this many times and pooled: one run's p99 rests on its slowest few
# probes, and minutes apart on this shared machine the same run measured 39 and 232 ms.
RUNS_AT_TARGET = 3
TARGET_FRACTION = 0.5
PROFILED_FRACTION = 0.5  # of the maximum throughput, for the profile of a paced worker
PROFILE_MARGIN_S = 2  # the paced run outlasts py-spy's samples, which start after it
# Unmeasured: one worker through this many events on the fresh broker, whose JIT compiler makes it
# slow at first (measured: Kafka's CPU per event fell from 39 to 11 us over three runs of one
# worker); every measurement after it then meets the same warm broker.
WARM_UP_EVENTS = 100_000
# Events of each real-basket level (CDNOW purchases, basket-heavy purchases) by mode: a worker
# applies a 20-item basket several times slower than a session event, and --quick stays short.
BASKET_LEVEL_EVENTS = {
    "quick": {"cdnow": 30_000, "baskets": 10_000},
    "full": {"cdnow": 140_000, "baskets": 60_000},
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def warm_up(base: Settings, work: Path) -> None:
    settings = bench_settings(base, work, "warm")
    log(f"warming the broker up: one worker through {WARM_UP_EVENTS:,} events, not measured ...")
    run_workers(settings, 1, produce_sessions(settings, WARM_UP_EVENTS), work)


def throughput(plan: Plan, base: Settings, work: Path) -> dict[str, Any]:
    settings = bench_settings(base, work, "tp")
    log(f"producing {plan.events:,} simulated session events ...")
    sessions = list(simulated_events(plan.events))
    events, items = produce(settings, sessions), line_items(sessions)
    raw = raw_consume(settings, events - 1000)
    log(f"raw aiokafka consume: {raw['per_s']:,.0f} events/s")
    naive = run_naive(settings, plan.naive_events, work)
    log(f"naive Faust agent: {naive.per_s:,.0f} events/s")
    one, stats = run_workers(settings, 1, events, work)
    log(f"segstream worker: {one.per_s:,.0f} events/s ({one.cpu_us_per_event()})")
    loop = raw_loop(
        bench_settings(base, work, "raw", events_topic=settings.events_topic), events, work
    )
    log(f"hand-rolled loop: {loop['per_s']:,.0f} events/s ({loop['cpu_us_per_event']:.1f} us CPU)")
    two, _ = run_workers(
        bench_settings(base, work, "tp2", events_topic=settings.events_topic), 2, events, work
    )
    steady_one, steady_two = one.steady(), two.steady()
    log(f"two workers: {steady_two.per_s:,.0f} vs one {steady_one.per_s:,.0f} events/s (steady)")
    cpu = one.cpu_us_per_event()
    values = {
        "throughput_events_per_s": round(one.per_s),
        "naive_faust_events_per_s": round(naive.per_s),
        "raw_consume_events_per_s": round(raw["per_s"]),
        "throughput_vs_naive": round(one.per_s / naive.per_s, 2),
        "throughput_vs_raw_consume": round(one.per_s / raw["per_s"], 3),
        "throughput_events": one.events,
        "throughput_items_per_s": round(one.per_s * items / events),
        "throughput_items_per_event": round(items / events, 2),
        "throughput_worker_cpu_us_per_event": round(cpu["worker0"], 1),
        "throughput_kafka_cpu_us_per_event": round(cpu.get("kafka", math.nan), 1),
        "throughput_redis_cpu_us_per_event": round(cpu.get("redis", math.nan), 1),
        "throughput_worker_cores": round(one.cpu_cores()["worker0"], 2),
        **same_work(loop, cpu["worker0"]),
        "naive_faust_cpu_us_per_event": round(naive.cpu_us_per_event()["naive"], 1),
        "raw_consume_cpu_us_per_event": round(raw["cpu_us_per_event"], 1),
        "one_worker_steady_events_per_s": round(steady_one.per_s),
        "two_worker_steady_events_per_s": round(steady_two.per_s),
        "two_worker_speedup": round(steady_two.per_s / steady_one.per_s, 2),
        "two_worker_cores": round(
            sum(v for k, v in steady_two.cpu_cores().items() if k.startswith("worker")), 2
        ),
        "throughput_rules": len(_rule_ids(settings)),
        # What the worker reported about machine-learned clusters (absent: it does not assign).
        "throughput_clusters": stats.get("clusters"),
    }
    if hotspots.py_spy():
        log(f"profiling a worker for {plan.profile_s}s with py-spy ...")
        profiled = bench_settings(base, work, "prof", events_topic=settings.events_topic)
        try:
            shares = hotspots.shares(profile_worker(profiled, plan.profile_s, work))
        except subprocess.CalledProcessError as exc:  # e.g. ptrace not permitted: no profile
            log(f"py-spy failed ({exc.stderr!r}): no profile this run")
        else:
            values["worker_profile"] = {s.category: round(s.fraction, 4) for s in shares}
    return values


def same_work(loop: dict[str, float], worker_cpu_us: float, level: str = "") -> dict[str, float]:
    """The hand-rolled loop's keys beside the worker's (``level``: ``_cdnow``, ``_baskets``, or ""
    for the session mix), and how much more CPU the worker spent per event on the same events."""
    return {
        f"raw_loop{level}_events_per_s": round(loop["per_s"]),
        f"raw_loop{level}_cpu_us_per_event": round(loop["cpu_us_per_event"], 1),
        f"worker_vs_raw_loop_cpu{level}": round(worker_cpu_us / loop["cpu_us_per_event"], 2),
    }


def basket_workloads(mode: str) -> dict[str, list[tuple[bytes, bytes]]]:
    """The events of each real-basket level: CDNOW purchases and basket-heavy ones (10-30 items)."""
    sizes = BASKET_LEVEL_EVENTS[mode]
    return {
        "cdnow": list(first_cdnow_events(sizes["cdnow"])),
        "baskets": list(basket_events(sizes["baskets"])),
    }


def basket_level_values(
    name: str, events: int, items: int, worker: Run, loop: dict[str, float]
) -> dict[str, Any]:
    """One real-basket level's keys: events/s and line items/s of the worker (items/s from the
    topic's items per event: the worker goes through all of it), and the hand-rolled loop's."""
    cpu = worker.cpu_us_per_event()["worker0"]
    per_item = items / max(events, 1)
    return {
        f"throughput_{name}_events_per_s": round(worker.per_s),
        f"throughput_{name}_items_per_s": round(worker.per_s * per_item),
        f"throughput_{name}_items_per_event": round(per_item, 1),
        f"throughput_{name}_events": events,
        f"throughput_{name}_worker_cpu_us_per_event": round(cpu, 1),
        f"raw_loop_{name}_items_per_s": round(loop["per_s"] * per_item),
        **same_work(loop, cpu, f"_{name}"),
    }


def baskets(plan: Plan, base: Settings, work: Path) -> dict[str, Any]:
    """The worker, then the hand-rolled loop, on CDNOW purchases and on basket-heavy ones."""
    values: dict[str, Any] = {}
    for name, batch in basket_workloads(plan.mode).items():
        settings = bench_settings(base, work, name)
        events, items = produce(settings, batch), line_items(batch)
        log(f"{name}: {events:,} purchases with {items:,} line items ...")
        worker, _ = run_workers(settings, 1, events, work)
        raw = bench_settings(base, work, f"raw-{name}", events_topic=settings.events_topic)
        loop = raw_loop(raw, events, work)
        level = basket_level_values(name, events, items, worker, loop)
        log(
            f"{name}: worker {worker.per_s:,.0f} events/s, "
            f"{level[f'throughput_{name}_items_per_s']:,} items/s; hand-rolled loop "
            f"{loop['per_s']:,.0f} events/s; worker/loop CPU "
            f"{level[f'worker_vs_raw_loop_cpu_{name}']}x"
        )
        values |= level
    return values


def _rule_ids(settings: Settings) -> list[str]:
    from rules.loader import load_rules, rule_files  # noqa: PLC0415 - only to count them

    assert settings.rules_dir is not None
    return [rule.id for rule in load_rules(rule_files(settings.rules_dir)).rules]


def latency(plan: Plan, base: Settings, work: Path, max_rate: float) -> dict[str, Any]:
    settings = bench_settings(base, work, "lat")
    ensure_topics(settings)
    paced_share = sum(_runs_at(fraction) * fraction for fraction in LOAD_FRACTIONS)
    needed = int(paced_share * max_rate * plan.latency_s * 1.1) + 10_000
    needed += int(PROFILED_FRACTION * max_rate * (plan.profile_s + PROFILE_MARGIN_S) * 1.1)
    background = iter(list(simulated_events(needed, id_prefix="b")))
    values: dict[str, Any] = {}
    # The paced producer stands in for a shop's and runs in this process: without this, this
    # process' full collections (100+ ms over the events above) stalled it and showed as latency.
    producer_gc = GcPauses()
    producer_gc.install()
    with workers(settings, 1, work) as group:
        url = group.stats_urls[0]
        warm = run_level(
            settings,
            stats_url=url,
            background=background,
            fraction=0.1,
            max_rate=max_rate,
            seconds=5,
        )
        log(f"latency warm-up at {warm.target_per_s:,.0f}/s: p99 {warm.p99_ms:.0f} ms")
        for fraction in LOAD_FRACTIONS:
            pct = f"{round(fraction * 100)}pct"
            runs = []
            for run in range(_runs_at(fraction)):
                level = run_level(
                    settings,
                    stats_url=url,
                    background=background,
                    fraction=fraction,
                    max_rate=max_rate,
                    seconds=plan.latency_s,
                    worker_pid=group.processes[0].pid,
                    probe_prefix=f"probe{pct}-{run}-",
                )
                log(f"latency at {pct} ({level.sent_per_s:,.0f}/s): {_describe(level)}")
                runs.append(level)
            values |= _latency_values(pooled(runs), runs, pct)
        worker_gc = worker_stats(url)["gc"]
        values["worker_profile_paced"] = None  # not an earlier run's, should this one have none
        if hotspots.py_spy():
            values["worker_profile_paced"] = _paced_profile(
                settings, group, background=background, max_rate=max_rate, plan=plan, work=work
            )
    producer_gc.uninstall()
    log(f"latency: worker GC {worker_gc}, producer GC {producer_gc.snapshot()}")
    values["latency_worker_gc_longest_pause_ms"] = worker_gc["longest_pause_ms"]
    values["latency_worker_gc_collections"] = worker_gc["collections"]
    return values


def _paced_profile(
    settings: Settings,
    group: Workers,
    *,
    background: Iterator[tuple[bytes, bytes]],
    max_rate: float,
    plan: Plan,
    work: Path,
) -> dict[str, float] | None:
    """py-spy samples of the worker during one more paced run at half the maximum throughput:
    where latency's time goes. Taken after the measured levels, which py-spy would slow."""
    output = work / f"{settings.app_id}-paced-py-spy.txt"
    log(f"profiling the worker at {PROFILED_FRACTION:.0%} load for {plan.profile_s}s ...")
    with ThreadPoolExecutor(max_workers=1) as pool:
        recording = pool.submit(hotspots.record, group.processes[0].pid, plan.profile_s, output)
        run_level(
            settings,
            stats_url=group.stats_urls[0],
            background=background,
            fraction=PROFILED_FRACTION,
            max_rate=max_rate,
            seconds=plan.profile_s + PROFILE_MARGIN_S,
            probe_prefix="profiled-",
        )
        try:
            recording.result()
        except subprocess.CalledProcessError as exc:
            log(f"py-spy failed ({exc.stderr!r}): no paced profile this run")
            return None
    return {share.category: round(share.fraction, 4) for share in hotspots.shares(output)}


def _runs_at(fraction: float) -> int:
    return RUNS_AT_TARGET if fraction == TARGET_FRACTION else 1


def _describe(level: Level) -> str:
    return (
        f"p50 {level.p50_ms:.0f} p95 {level.p95_ms:.0f} p99 {level.p99_ms:.0f} ms "
        f"({level.seen}/{level.probes}; pacer {level.pacer_cpu_us_per_event:.0f} CPU us/event)"
    )


def _latency_values(level: Level, runs: list[Level], pct: str) -> dict[str, Any]:
    if len(runs) > 1:
        log(f"latency at {pct}, {len(runs)} runs pooled: {_describe(level)}")
    values: dict[str, Any] = {
        f"latency_{name}_ms_at_{pct}": round(getattr(level, f"{name}_ms"), 1)
        for name in ("p50", "p95", "p99")
    }
    values[f"latency_events_per_s_at_{pct}"] = round(level.sent_per_s)
    values[f"latency_probes_at_{pct}"] = level.seen
    values[f"latency_runs_at_{pct}"] = len(runs)
    values[f"latency_p99_ms_per_run_at_{pct}"] = [round(run.p99_ms, 1) for run in runs]
    values[f"latency_pacer_cpu_us_per_event_at_{pct}"] = round(level.pacer_cpu_us_per_event, 1)
    values[f"latency_pacer_cpu_us_per_event_per_run_at_{pct}"] = [
        round(run.pacer_cpu_us_per_event, 1) for run in runs
    ]
    return values | _worker_load(level, pct) | _stages(level, pct)


def _stages(level: Level, pct: str) -> dict[str, Any]:
    """The probes' latency before and after the rebatcher sent their envelope."""
    values: dict[str, Any] = {}
    for stage in STAGES:
        for name, fraction in (("p50", 0.5), ("p99", 0.99)):
            value = level.stage_ms(stage, fraction)
            values[f"latency_{stage}_{name}_ms_at_{pct}"] = round(value, 1)
    log(
        f"  split at the envelope: {len(level.to_envelope)} probes, to the envelope p50 "
        f"{values[f'latency_to_envelope_p50_ms_at_{pct}']:.0f} p99 "
        f"{values[f'latency_to_envelope_p99_ms_at_{pct}']:.0f} ms, envelope to Redis p50 "
        f"{values[f'latency_envelope_to_redis_p50_ms_at_{pct}']:.0f} p99 "
        f"{values[f'latency_envelope_to_redis_p99_ms_at_{pct}']:.0f} ms"
    )
    return values


def _worker_load(level: Level, pct: str) -> dict[str, Any]:
    """The worker's cores and envelopes during a latency level: a worker sends a round of
    envelopes whenever it finished the last one, so its CPU shows in envelopes as much as in
    events."""
    load = level.worker
    if load is None:
        return {}
    log(f"  {load.describe()}")
    return {
        f"latency_worker_cores_at_{pct}": round(load.cores, 2),
        f"latency_envelopes_per_s_at_{pct}": round(load.envelopes_per_s),
        f"latency_events_per_envelope_at_{pct}": round(load.events_per_envelope, 1),
        f"latency_worker_cpu_ms_per_envelope_at_{pct}": round(load.cpu_ms_per_envelope, 2),
    }


def scale(plan: Plan, base: Settings, work: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for customers in plan.customers:
        log(f"memory and recovery with {customers:,} customers ...")
        found = footprint(
            bench_settings(base, work, f"mem{customers}"),
            customers,
            work,
            bench_settings(base, work, f"empty{customers}"),
        )
        label = "1m" if customers == MILLION else f"{customers // 1000}k"
        log(
            f"{label}: {found.bytes_per_profile:,.0f} bytes/profile, "
            f"recovery {found.recovery_s:.1f}s"
        )
        values |= {
            f"bytes_per_profile_{label}": round(found.bytes_per_profile),
            f"rocksdb_bytes_per_profile_{label}": round(found.rocksdb_bytes / customers),
            f"memory_bytes_per_profile_{label}": round(found.memory_bytes / customers),
            f"recovery_{label}_profiles_s": round(found.recovery_s, 1),
            f"empty_start_{label}_s": round(found.empty_start_s, 1),
            f"ingest_events_per_s_{label}": round(found.ingest_per_s),
        }
    largest = max(plan.customers)
    label = "1m" if largest == MILLION else f"{largest // 1000}k"
    values["bytes_per_profile"] = values[f"bytes_per_profile_{label}"]
    if MILLION not in plan.customers:
        # Quick mode: recovery reads the changelog record by record, so it scales linearly.
        per_profile = values[f"recovery_{label}_profiles_s"] - values[f"empty_start_{label}_s"]
        values["recovery_1m_profiles_s"] = round(
            values[f"empty_start_{label}_s"] + per_profile * MILLION / largest, 1
        )
        values["recovery_1m_profiles_scaled_from"] = largest
    else:
        values["recovery_1m_profiles_scaled_from"] = None
    return values


def others(plan: Plan) -> dict[str, Any]:
    """Run the named benchmarks in their own processes; they merge their keys themselves.

    One that fails is named and the rest still run: the suite's own figures, half an hour of a
    full run, are written with theirs (a full run once lost them all to its last benchmark)."""
    seconds, failed = {}, {}
    for command in plan.others:
        name, *arguments = command.split()
        log(f"bench.{command} ...")
        started = time.monotonic()
        command_line = [sys.executable, "-m", f"bench.{name}", *arguments]
        exit_code = subprocess.run(command_line, check=False).returncode
        seconds[name] = round(time.monotonic() - started)
        if exit_code != 0:
            log(f"bench.{command} FAILED (exit {exit_code}); its output is above")
            failed[name] = exit_code
    return {"bench_others_seconds": seconds, "bench_others_failed": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="scaled down, under 10 minutes")
    plan = QUICK if parser.parse_args().quick else FULL
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="segstream-bench-suite-"))
    base = Settings()
    before = environment(base)
    values: dict[str, Any] = {"bench_mode": plan.mode}
    loaded = load_warning(before["load_average"])
    _shout(loaded)
    log(f"{plan.mode} suite; logs and data in {work}")
    values["pipeline_us_per_event"] = round(pipeline.cpu_us_per_event(), 1)
    log(f"pure pipeline: {values['pipeline_us_per_event']} us CPU per event")
    warm_up(base, work)
    values |= throughput(plan, base, work)
    values |= baskets(plan, base, work)
    values |= latency(plan, base, work, values["throughput_events_per_s"])
    values |= scale(plan, base, work)
    values |= others(plan)
    values["bench_seconds"] = round(time.monotonic() - started)
    values["bench_environment"] = {"before": before, "after": environment(base)}
    write_report(merge_results(values), asdict(plan))
    log(f"done in {values['bench_seconds']}s: bench/results.json, bench/RESULTS.md, bench/*.png")
    _shout(loaded)
    if values["bench_others_failed"]:
        failed = ", ".join(f"bench.{name}" for name in values["bench_others_failed"])
        _shout(f"failed: {failed} (the rest is written; rerun with: bash scripts/bench.sh NAME)")
        sys.exit(1)


def _shout(warning: str | None) -> None:
    """A loaded machine's warning, where nobody reading the terminal can miss it."""
    if warning is None:
        return
    bar = "!" * 100
    print(f"{bar}\n!!! {warning}\n{bar}", flush=True)


if __name__ == "__main__":
    main()
