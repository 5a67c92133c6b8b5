"""Worker metrics without a worker: the bulk histogram, the snapshot collector, the hooks."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from streams.ops.lag import GroupLag, PartitionLag
from streams.ops.metrics import FRESHNESS_BUCKETS, BulkHistogram, Snapshot, WorkerMetrics
from streams.ops.scrape import Scrape


def scrape(metrics: WorkerMetrics) -> Scrape:
    return Scrape(generate_latest(metrics.registry).decode())


def test_bulk_histogram_exports_what_prometheus_client_would() -> None:
    values = [0.0, 0.05, 0.1, 0.1000001, 3.0, 60.0, 99_999.0, -1.0]
    theirs_registry, ours_registry = CollectorRegistry(), CollectorRegistry()
    theirs = Histogram("f", "f", buckets=FRESHNESS_BUCKETS, registry=theirs_registry)
    for value in values:
        theirs.observe(value)
    ours = BulkHistogram("f", "f", FRESHNESS_BUCKETS)
    ours_registry.register(ours)
    ours.observe_many(values[:3])
    ours.observe_many(values[3:])

    def samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
        found = Scrape(generate_latest(registry).decode()).samples
        return {(s.name, s.labels.get("le", "")): s.value for s in found if "created" not in s.name}

    assert samples(ours_registry) == samples(theirs_registry)
    assert samples(ours_registry)[("f_bucket", "0.1")] == 4  # -1, 0, 0.05 and exactly 0.1
    assert samples(ours_registry)[("f_count", "")] == len(values)


def test_counters_and_states_come_from_the_snapshot_at_scrape_time() -> None:
    current = [Snapshot()]
    metrics = WorkerMetrics(lambda: current[0])
    assert scrape(metrics).value("segstream_events_in_total") == 0
    assert scrape(metrics).value("segstream_ready") == 1
    current[0] = Snapshot(
        events_in=12,
        outcomes={"applied": 9, "duplicate": 1, "dead_letter": 2},
        dead_letters={"bad_json": 2},
        redis_write_errors=3,
        rule_evaluation_errors={"arithmetic": 4},
        rules_version="v7",
        rebalances=2,
        recovering=True,
        recovery_remaining={"active": 500, "standby": 0},
        redis_up=False,
        gc_collections=5,
        gc_pause_seconds=0.04,
        gc_longest_pause_seconds=0.02,
        gc_frozen_objects=300_000,
    )
    found = scrape(metrics)
    assert found.value("segstream_events_in_total") == 12
    assert found.value("segstream_events_out_total", outcome="dead_letter") == 2
    assert found.value("segstream_dead_letters_total", reason="bad_json") == 2
    assert found.value("segstream_redis_write_errors_total") == 3
    assert found.value("segstream_rule_evaluation_errors_total", kind="arithmetic") == 4
    assert found.labelled("segstream_rules_info", "version") == {"v7": 1}
    assert found.value("segstream_rebalances_total") == 2
    assert found.value("segstream_table_recovering") == 1
    assert found.value("segstream_table_recovery_remaining_records", kind="active") == 500
    assert found.value("segstream_redis_up") == 0
    assert found.value("segstream_ready") == 0
    assert found.value("segstream_gc_collections_total") == 5
    assert found.value("segstream_gc_pause_seconds_total") == 0.04
    assert found.value("segstream_gc_longest_pause_seconds") == 0.02
    assert found.value("segstream_gc_frozen_objects") == 300_000


def test_not_ready_and_kafka_down_while_kafka_does_not_answer() -> None:
    metrics = WorkerMetrics(lambda: Snapshot(kafka_down_since=time.time()))
    found = scrape(metrics)
    assert found.value("segstream_kafka_up") == 0
    assert found.value("segstream_ready") == 0
    assert scrape(WorkerMetrics(Snapshot)).value("segstream_kafka_up") == 1


def test_a_settled_batch_feeds_freshness_and_redis_latency() -> None:
    metrics = WorkerMetrics(Snapshot)
    now = time.time()
    metrics.batch_settled([now - 100, now - 2], redis_seconds=0.004)
    metrics.batch_settled([], redis_seconds=None)  # nothing applied, nothing written
    found = scrape(metrics)
    assert found.value("segstream_event_freshness_seconds_count") == 2
    assert found.value("segstream_event_freshness_seconds_bucket", le="1.0") == 0
    assert found.value("segstream_event_freshness_seconds_bucket", le="2.5") == 1
    assert found.value("segstream_event_freshness_seconds_bucket", le="120.0") == 2
    last = found.value("segstream_freshness_last_batch_seconds")
    assert last is not None
    assert 2 <= last < 100
    assert found.value("segstream_redis_write_seconds_count") == 1


def test_model_metrics_are_absent_until_a_model_is_set_then_show_only_the_latest() -> None:
    metrics = WorkerMetrics(Snapshot)
    assert scrape(metrics).value("segstream_model_info") is None
    assert "segstream_model_info" in scrape(metrics).names  # declared, so queries can name it
    metrics.set_model("m1", 1_790_000_000.0)
    metrics.set_model("m2", 1_790_000_600.0)
    found = scrape(metrics)
    assert found.labelled("segstream_model_info", "version") == {"m2": 1}
    assert found.value("segstream_model_updated_timestamp_seconds") == 1_790_000_600.0


def test_lag_and_segment_sizes_are_labelled() -> None:
    metrics = WorkerMetrics(Snapshot)
    partitions = (PartitionLag(0, 10, 4, 6), PartitionLag(1, 5, None, 5))
    metrics.set_lag([GroupLag("g-ingest", "events", partitions)])
    metrics.set_segment_sizes({"vip": 3, "cluster_c1": 40})
    found = scrape(metrics)
    lag = "segstream_consumer_lag"
    assert found.value(lag, group="g-ingest", topic="events", partition="0") == 6
    assert found.value(lag, group="g-ingest") == 11
    assert found.value("segstream_consumer_lag_updated_timestamp_seconds")
    assert found.labelled("segstream_segment_members", "segment") == {"vip": 3, "cluster_c1": 40}
