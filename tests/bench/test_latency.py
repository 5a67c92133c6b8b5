"""Latency probes and percentiles."""

from __future__ import annotations

import doctest
import json
import math

import bench.latency
from bench.latency import percentile, probe_event
from streams.events import decode_event


def test_nearest_rank_percentiles() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (
        50.0,
        99.0,
        100.0,
    )
    assert percentile([7.0], 0.99) == 7.0
    assert math.isnan(percentile([], 0.5))


def test_a_probe_is_a_valid_event_of_a_new_customer_in_germany() -> None:
    key, value = probe_event("probe50-000000001", 1_700_000_000.25)
    event = decode_event(value, max_bytes=65_536)
    assert key == b"probe50-000000001"
    assert (event.subject_id, event.epoch_s) == ("probe50-000000001", 1_700_000_000.25)
    assert json.loads(value)["traits"] == {"country": "DE"}


def test_the_docstring_examples_hold() -> None:  # bench/ is not among tests/test_doctests.py's
    assert doctest.testmod(bench.latency).failed == 0
