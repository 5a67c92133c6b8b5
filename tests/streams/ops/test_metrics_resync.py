"""Resync counters as Prometheus reads them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from streams.ops.metrics import ResyncCollector
from streams.worker_stats import WorkerStats


def test_resyncs_are_counted_per_partition_with_the_customers_rewritten() -> None:
    stats = WorkerStats(resyncs_started={2: 2, 0: 1}, resyncs_completed={2: 1})
    stats.resync_customers_rewritten = 1234
    registry = CollectorRegistry()
    registry.register(ResyncCollector(lambda: stats))
    text = generate_latest(registry).decode()
    assert 'segstream_resyncs_started_total{partition="2"} 2.0' in text
    assert 'segstream_resyncs_started_total{partition="0"} 1.0' in text
    assert 'segstream_resyncs_completed_total{partition="2"} 1.0' in text
    assert "segstream_resync_customers_rewritten_total 1234.0" in text
