"""The capacity plan: its arithmetic on made-up figures, and docs/scaling.md against the results."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import pytest

from bench.capacity import RESULTS, Measured, main, plan

FIGURES: dict[str, Any] = {field.name: 1.0 for field in fields(Measured)} | {
    "throughput_events_per_s": 20_000,
    "failover_cpu_us_per_event_standby_0": 100,
    "failover_cpu_us_per_event_standby_1": 125,
    "bytes_per_profile_100k": 5_000,  # 0.5 GB at 100k
    "bytes_per_profile_1m": 1_400,  # 1.4 GB at 1M: 1,000 bytes per profile more
    "rocksdb_bytes_per_profile_1m": 100,
    "recovery_1m_profiles_s": 60,
    "throughput_kafka_cpu_us_per_event": 4,
}


def test_docs_scaling_is_what_the_committed_results_give() -> None:
    assert main(["--check"]) == 0, "run: python -m bench.capacity"


def test_a_worker_is_planned_at_half_its_backlog_rate_less_the_standby_cost() -> None:
    measured = Measured.from_results(FIGURES)
    assert measured.planned_events_per_s == pytest.approx(20_000 * 0.5 / 1.25)
    assert plan(measured, 16_000, 1_000_000).workers == 2
    assert plan(measured, 16_001, 1_000_000).workers == 3


def test_never_fewer_than_two_workers() -> None:
    assert plan(Measured.from_results(FIGURES), 10, 1_000).workers == 2


def test_memory_lies_on_the_line_through_the_measured_points() -> None:
    measured = Measured.from_results(FIGURES)
    assert measured.memory_bytes(100_000) == pytest.approx(0.5e9)
    assert measured.memory_bytes(1_000_000) == pytest.approx(1.4e9)
    assert measured.memory_bytes(2_000_000) == pytest.approx(2.4e9)


def test_each_worker_holds_its_share_and_a_standby_copy() -> None:
    three = plan(Measured.from_results(FIGURES), 20_000, 3_000_000)
    assert three.workers == 3
    assert three.profiles_held_per_worker == pytest.approx(2_000_000)
    assert three.memory_bytes_per_worker == pytest.approx(2.4e9)
    assert three.disk_bytes_per_worker == pytest.approx(2_000_000 * 100 * 2)
    assert three.recovery_s_per_worker == pytest.approx(60)  # its own 1M, not the standby
    assert three.kafka_cores == pytest.approx(0.08)
    assert three.extrapolated


def test_results_without_a_figure_name_it() -> None:
    values = dict(FIGURES)
    del values["recovery_1m_profiles_s"]
    with pytest.raises(KeyError, match="recovery_1m_profiles_s"):
        Measured.from_results(values)


def test_the_committed_results_hold_every_figure() -> None:
    Measured.from_results(json.loads(RESULTS.read_text()))


def test_redis_shards_cover_the_memory_and_the_cores_and_set_the_partitions() -> None:
    measured = Measured.from_results(FIGURES | {"redis_bytes_per_customer": 500})
    small = plan(measured, 10_000, 1_000_000)
    assert small.redis_memory_bytes == pytest.approx(5e8)
    assert (small.redis_shards, small.partitions) == (1, 8)
    big = plan(measured, 10_000, 100_000_000)  # 50 GB: 3 shards of 16 GiB (17.2 GB)
    assert (big.redis_shards, big.redis_bound_by, big.partitions) == (3, "memory", 12)
    figures = FIGURES | {"redis_bytes_per_customer": 500, "throughput_redis_cpu_us_per_event": 1}
    busy = plan(Measured.from_results(figures), 2_000_000, 1_000)
    assert (busy.redis_shards, busy.redis_bound_by) == (4, "cores")  # 2 cores at 0.5 each
