"""Runs sampled from workers: rates, CPU per event, and the steady window after a rebalance."""

from __future__ import annotations

import os

import pytest

from bench.meter import Run, Sample, cpu_seconds, rss_bytes


def sample(at: float, counts: tuple[int, ...], cpu: float = 0.0) -> Sample:
    return Sample(at, counts, {"worker": cpu})


def test_rate_and_cpu_per_event_are_taken_between_the_first_and_last_sample() -> None:
    run = Run([sample(10.0, (1_000,), 1.0), sample(12.0, (21_000,), 2.0)])
    assert (run.events, run.seconds, run.per_s) == (20_000, 2.0, 10_000.0)
    assert run.cpu_us_per_event() == {"worker": pytest.approx(50.0)}
    assert run.cpu_cores() == {"worker": pytest.approx(0.5)}


def test_the_steady_window_starts_after_every_worker_has_events_and_stops_before_the_tail() -> None:
    samples = [sample(t, counts) for t, counts in [
        (0.0, (100, 0)), (1.0, (900, 0)), (2.0, (1_000, 10)), (3.0, (1_000, 500)),
        (4.5, (1_500, 1_000)), (6.0, (2_000, 1_500)), (7.0, (2_500, 2_000)), (8.0, (2_600, 2_400)),
    ]]  # fmt: skip
    steady = Run(samples).steady(settle_s=2.0, until=0.95)
    # From 2 s after t=2 (both workers busy) to 95% of the 4,900 events (count <= 4,755).
    assert [s.at for s in steady.samples] == [4.5, 6.0, 7.0]


def test_this_process_has_cpu_time_and_memory() -> None:
    assert cpu_seconds(os.getpid()) > 0
    assert rss_bytes(os.getpid()) > 0


def test_a_process_that_is_gone_reads_as_zero() -> None:
    assert (cpu_seconds(2**22 + 1), rss_bytes(2**22 + 1)) == (0.0, 0)
