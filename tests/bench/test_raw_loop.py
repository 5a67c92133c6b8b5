"""The hand-rolled loop's pure parts: its records, its pipeline and its measurement."""

from __future__ import annotations

import json
import time

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from bench.raw_loop import Measurement, input_records, processor
from bench.throughput import RULES_DIR
from bench.workload import simulated_events
from rules.loader import load_rule_dir
from streams.settings import Settings
from tests.models.test_segments import SNAPSHOT


def _record(
    partition: int, offset: int, value: bytes, key: bytes = b"k"
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("events", partition, offset, 0, 0, key, value, None, 1, len(value), ())


def test_a_poll_becomes_the_pipelines_records_partition_by_partition() -> None:
    polled = {
        TopicPartition("events", 3): [_record(3, 7, b"a"), _record(3, 8, b"b")],
        TopicPartition("events", 0): [_record(0, 1, b"c")],
    }
    records = input_records(polled)
    assert [(r.partition, r.offset, r.value, r.topic) for r in records] == [
        (3, 7, b"a", "events"), (3, 8, b"b", "events"), (0, 1, b"c", "events"),
    ]  # fmt: skip
    assert all(r.key == b"k" and r.handle is None for r in records)


def test_the_loop_runs_the_workers_rules_on_the_same_events() -> None:
    settings = Settings(rules_dir=RULES_DIR)
    loop = processor(settings, None)
    assert loop.clusters is None
    assert loop.rules().version == load_rule_dir(RULES_DIR).version
    events = list(simulated_events(2_000))
    polled = [_record(0, n, value, key) for n, (key, value) in enumerate(events)]
    records = input_records({TopicPartition("events", 0): polled})
    outcome = loop.process(records, time.time())
    assert not outcome.dead_letters
    assert outcome.applied == len(events)
    assert outcome.changes  # some of the 20 rules matched someone


def test_given_a_model_the_loop_assigns_clusters_with_it() -> None:
    loop = processor(Settings(cluster_features="avg_order_value"), SNAPSHOT)
    assert loop.clusters is not None
    assert loop.clusters.current() is SNAPSHOT
    assert loop.clusters.assigner() is not None  # the model's features are the settings'


def test_the_measurement_is_per_event_of_the_timed_span() -> None:
    measured = Measurement(events=20_000, seconds=2.0, cpu_seconds=0.5, applied=28_000)
    assert measured.per_s == 10_000.0
    assert measured.cpu_us_per_event == pytest.approx(25.0)
    reported = json.loads(measured.to_json())
    assert reported["per_s"] == 10_000.0
    assert reported["cpu_us_per_event"] == pytest.approx(25.0)
    assert reported["applied"] == 28_000
