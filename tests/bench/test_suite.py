"""The suite's pure parts: same-run ratios against the hand-rolled loop, real-basket levels, and
the loaded-machine warning on the terminal."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.meter import Run, Sample
from bench.plans import QUICK
from bench.suite import _shout, basket_level_values, others, same_work

LOOP = {"per_s": 5_000.0, "cpu_us_per_event": 100.0}


def test_the_worker_is_compared_with_the_loop_by_cpu_per_event() -> None:
    assert same_work(LOOP, 150.0) == {
        "raw_loop_events_per_s": 5_000,
        "raw_loop_cpu_us_per_event": 100.0,
        "worker_vs_raw_loop_cpu": 1.5,
    }
    assert same_work(LOOP, 250.0, "_cdnow")["worker_vs_raw_loop_cpu_cdnow"] == 2.5


def test_a_basket_level_reports_events_and_line_items_per_second() -> None:
    worker = Run([Sample(0.0, (1_000,), {"worker0": 1.0}), Sample(2.0, (5_000,), {"worker0": 2.0})])
    values = basket_level_values("baskets", events=5_000, items=100_000, worker=worker, loop=LOOP)
    assert values["throughput_baskets_events_per_s"] == 2_000
    assert values["throughput_baskets_items_per_event"] == 20.0
    assert values["throughput_baskets_items_per_s"] == 40_000
    assert values["throughput_baskets_worker_cpu_us_per_event"] == 250.0
    assert values["raw_loop_baskets_items_per_s"] == 100_000
    assert values["worker_vs_raw_loop_cpu_baskets"] == 2.5


def test_a_loaded_machine_is_shouted_and_a_quiet_one_is_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _shout(None)
    assert capsys.readouterr().out == ""
    _shout("LOADED MACHINE: 2.4")
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "!!! LOADED MACHINE: 2.4"
    assert lines[0] == lines[2] == "!" * 100


def test_a_failing_named_benchmark_is_recorded_and_the_next_still_runs() -> None:
    """Neither module exists: each run fails on its own, and both are tried."""
    plan = replace(QUICK, others=("no_such_bench_a", "no_such_bench_b --full"))
    values = others(plan)
    assert values["bench_others_failed"] == {"no_such_bench_a": 1, "no_such_bench_b": 1}
    assert set(values["bench_others_seconds"]) == {"no_such_bench_a", "no_such_bench_b"}
