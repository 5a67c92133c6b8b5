"""RESULTS.md as rendered from a suite's values."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from bench.harness import RESULTS
from bench.plans import FULL, QUICK
from bench.report import LOAD_THRESHOLD, load_warning, render


def _committed_values() -> dict[str, Any]:
    values: dict[str, Any] = json.loads(RESULTS.read_text())
    return values


def _latency_row(text: str, load: str) -> list[str]:
    return next(row for row in map(_cells, text.splitlines()) if row[:1] == [f"{load}%"])


def test_the_latency_table_shows_the_workers_cores_and_envelopes_of_each_level() -> None:
    values = _committed_values() | {
        "latency_worker_cores_at_50pct": 0.81,
        "latency_envelopes_per_s_at_50pct": 210,
        "latency_events_per_envelope_at_50pct": 16.4,
        "latency_worker_cpu_ms_per_envelope_at_50pct": 3.86,
    }
    row = _latency_row(render(values, asdict(QUICK), []), "50")
    assert row[-5:-1] == ["0.81", "210", "16.4", "3.86"]


def test_pooled_runs_at_50pct_are_listed_with_the_pacers_cpu_of_each() -> None:
    values = _committed_values() | {
        "latency_pacer_cpu_us_per_event_at_50pct": 50.0,
        "latency_p99_ms_per_run_at_50pct": [39.0, 232.0],
        "latency_pacer_cpu_us_per_event_per_run_at_50pct": [40.0, 60.0],
    }
    text = render(values, asdict(QUICK), [])
    assert _latency_row(text, "50")[-1] == "50.0"
    assert "39.0 ms (40.0 µs), 232.0 ms (60.0 µs)" in text


def test_results_of_a_suite_without_worker_columns_still_render_with_blank_cells() -> None:
    values = {
        key: value
        for key, value in _committed_values().items()
        if not key.startswith(("latency_worker_cores", "latency_envelopes", "latency_events_per_e"))
        and not key.startswith("latency_worker_cpu")
        and "pacer" not in key
    }
    row = _latency_row(render(values, asdict(QUICK), []), "25")
    assert row[-5:] == ["", "", "", "", ""]
    assert row[1] == f"{values['latency_events_per_s_at_25pct']:,}"


def test_the_split_at_the_envelope_has_a_row_per_load() -> None:
    split = {
        f"latency_{stage}_{name}_ms_at_{pct}pct": value
        for pct in (25, 50, 80)
        for stage, name, value in (
            ("to_envelope", "p50", 40.0 + pct),
            ("to_envelope", "p99", 100.0 + pct),
            ("envelope_to_redis", "p50", 30.0 + pct),
            ("envelope_to_redis", "p99", 90.0 + pct),
        )
    }
    text = render(_committed_values() | split, asdict(QUICK), [])
    rows = [row for row in map(_cells, text.splitlines()) if row[:1] == ["50%"]]
    assert rows[-1] == ["50%", "90.0", "150.0", "80.0", "140.0"]


def test_results_from_before_the_split_render_without_its_table() -> None:
    values = {
        k: v
        for k, v in _committed_values().items()
        if "envelope_p" not in k and "envelope_to_redis" not in k
    }
    assert "to the envelope" not in render(values, asdict(QUICK), [])


def test_the_profile_table_puts_the_paced_shares_beside_the_backlog_ones() -> None:
    backlog = {"waiting for I/O (idle)": 0.2, "profile updates": 0.5, "Redis writes": 0.3}
    paced = {"waiting for I/O (idle)": 0.1, "profile updates": 0.2, "Faust consumer and agent": 0.7}
    values = _committed_values() | {"worker_profile": backlog, "worker_profile_paced": paced}
    text = render(values, asdict(QUICK), [])
    rows = {row[0]: row[1:] for row in (_cells(line) for line in text.splitlines()) if row}
    assert rows["profile updates"] == ["50.0%", "20.0%"]
    assert rows["Redis writes"] == ["30.0%", ""]
    assert rows["Faust consumer and agent"] == ["", "70.0%"]
    assert "spent 20% of its time in the pipeline's own work" in text
    assert "10% waiting, and 70% in Faust" in text


def _cells(line: str) -> list[str]:
    if not line.startswith("| ") or line.startswith("| load"):
        return []
    return [cell.strip() for cell in line.strip("|").split("|")]


def _loaded(values: dict[str, Any], one_minute: float) -> dict[str, Any]:
    before = values["bench_environment"]["before"] | {"load_average": [one_minute, 1.0, 1.0]}
    return values | {"bench_environment": values["bench_environment"] | {"before": before}}


def test_a_run_after_a_load_above_the_threshold_is_flagged_in_the_first_line() -> None:
    text = render(_loaded(_committed_values(), 2.4), asdict(QUICK), [])
    first = text.splitlines()[0]
    assert first.startswith("> **LOADED MACHINE")
    assert "2.4" in first


def test_a_run_at_the_threshold_is_not_flagged() -> None:
    text = render(_loaded(_committed_values(), LOAD_THRESHOLD), asdict(QUICK), [])
    assert text.splitlines()[0] == "# Benchmark results"
    assert "LOADED MACHINE" not in text
    assert load_warning([LOAD_THRESHOLD + 0.01, 0.0, 0.0]) is not None


def test_the_report_leads_with_the_same_run_ratios_and_the_hosts_speed() -> None:
    values = _committed_values() | {
        "worker_vs_raw_loop_cpu": 1.87,
        "throughput_vs_naive": 5.5,
        "pipeline_us_per_event": 20.0,
        "throughput_worker_cpu_us_per_event": 50.0,
        "latency_p99_ms_at_25pct": 30.0,
        "latency_p99_ms_at_50pct": 60.0,
        "latency_p99_ms_at_80pct": 90.0,
    }
    text = render(values, asdict(QUICK), [])
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections[0] == "## Same-run ratios (compare hosts by these)"
    rows = {row[0]: row[1] for row in map(_cells, text.splitlines()) if len(row) > 1}
    assert rows[
        "worker / hand-rolled loop, CPU per event, session mix (same events, same run)"
    ] == ("1.87x")
    assert rows["worker / naive Faust agent, events/s"] == "5.5x"
    assert rows["worker CPU per event / pure pipeline's"] == "2.50x"
    assert rows["p99 at 25% / 50% / 80% of this run's throughput"] == "30.0 ms / 60.0 ms / 90.0 ms"
    assert "took 20.0 µs of CPU per event (`pipeline_us_per_event`)" in text


def test_results_without_the_hand_rolled_loop_render_its_ratios_as_dashes() -> None:
    values = {
        k: v for k, v in _committed_values().items() if not k.startswith(("raw_loop", "worker_vs"))
    }
    text = render(values, asdict(QUICK), [])
    assert "| the same on CDNOW purchases / basket-heavy purchases | — / — |" in text
    assert "hand-rolled loop, the worker's pipeline" not in text
    assert "## Real baskets" not in text


def test_real_baskets_are_a_row_per_mix_beside_the_sessions() -> None:
    measured = {k: v for k, v in _committed_values().items() if "cdnow" not in k}
    values = measured | {
        "throughput_events_per_s": 20_000,
        "throughput_items_per_event": 0.4,
        "throughput_items_per_s": 8_000,
        "raw_loop_events_per_s": 30_000,
        "raw_loop_cpu_us_per_event": 25.0,
        "worker_vs_raw_loop_cpu": 1.6,
        "throughput_baskets_events_per_s": 2_000,
        "throughput_baskets_items_per_event": 19.8,
        "throughput_baskets_items_per_s": 39_600,
        "throughput_baskets_worker_cpu_us_per_event": 400.0,
        "raw_loop_baskets_events_per_s": 3_000,
        "raw_loop_baskets_cpu_us_per_event": 300.0,
        "worker_vs_raw_loop_cpu_baskets": 1.33,
    }
    text = render(values, asdict(QUICK), [])
    rows = {row[0]: row[1:] for row in map(_cells, text.splitlines()) if row}
    assert rows["baskets"] == ["19.8", "2,000", "39,600", "400.0", "3,000", "300.0", "1.33x"]
    assert rows["simulated sessions"][:3] == ["0.4", "20,000", "8,000"]
    assert "CDNOW purchases" not in rows  # not measured: no row


def test_other_benchmarks_list_only_those_the_run_ran() -> None:
    plan = asdict(FULL)  # names resync, scale_out and clusters too
    values = _committed_values() | {"bench_others_seconds": {"rule_eval": 3, "resync": 60}}
    text = render(values, plan, [])
    assert "| `bench.rule_eval` |" in text
    assert "| `bench.resync` | `resync_vs_raw_write` =" in text
    assert "`bench.scale_out`" not in text  # in the plan, not in this run


def test_a_failed_benchmark_is_named_at_the_top_and_in_its_row() -> None:
    values = _committed_values() | {
        "bench_others_seconds": {"rule_eval": 3, "resync": 60},
        "bench_others_failed": {"resync": 1},
    }
    text = render(values, asdict(FULL), [])
    assert text.startswith("> **These benchmarks failed in this run: resync (below).**")
    assert "| `bench.resync` | **failed** (exit 1): no figures from this run | 60 s |" in text
    assert "| `bench.rule_eval` | `rule_eval_" in text
