"""Every metric a worker exports, in one registry per worker.

Counters that the worker already keeps (``WorkerStats``, the rebatcher's and the Redis writer's
counts) are read at scrape time by :class:`SnapshotCollector` instead of being counted twice on the
hot path. Freshness is observed once per event, so it uses :class:`BulkHistogram`, which takes a
whole batch of observations for a fraction of ``prometheus_client.Histogram.observe``'s cost.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from streams.ops.health import readiness
from streams.ops.lag import GroupLag

# Event time -> Redis: sub-second when healthy; minutes to hours during an outage or backlog.
FRESHNESS_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600)
REDIS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30)


class BulkHistogram(Collector):
    """A histogram fed a batch of values at a time, by one thread (the worker's event loop)."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = tuple(sorted(buckets))
        self._counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self._sum = 0.0

    def observe_many(self, values: Iterable[float]) -> None:
        counts, bounds = self._counts, self.bounds
        total = 0.0
        for value in values:
            counts[bisect.bisect_left(bounds, value)] += 1
            total += value
        self._sum += total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        cumulative, running = [], 0
        for bound, count in zip((*self.bounds, math.inf), self._counts, strict=True):
            running += count
            cumulative.append((_bound_text(bound), running))
        family = HistogramMetricFamily(self.name, self.documentation)
        family.add_metric([], cumulative, self._sum)
        yield family


def _bound_text(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The worker's own counters and states, read when Prometheus scrapes."""

    events_in: int = 0
    events_rebatched: int = 0
    outcomes: Mapping[str, int] = field(default_factory=dict)  # applied | duplicate | dead_letter
    dead_letters: Mapping[str, int] = field(default_factory=dict)  # by rejection kind
    membership_changes: int = 0
    redis_write_errors: int = 0
    rule_evaluation_errors: Mapping[str, int] = field(default_factory=dict)
    rules_version: str = ""
    rules_rejections: int = 0
    rules_rejected: bool = False  # the newest version offered was refused; the last good runs
    timers_pending: int = 0
    reevaluations: Mapping[str, int] = field(default_factory=dict)  # elapsed | rule_change
    rebalances: int = 0
    recovering: bool = False
    recovery_remaining: Mapping[str, int] = field(default_factory=dict)  # active | standby
    redis_up: bool = True
    kafka_down_since: float | None = None  # when probes of Kafka began to fail; None: it answers
    gc_collections: int = 0
    gc_pause_seconds: float = 0.0  # all collections' pauses together
    gc_longest_pause_seconds: float = 0.0
    gc_frozen_objects: int = 0  # see streams.ops.gc_pauses (counted at most once a minute)


class SnapshotCollector(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        s = self._snapshot()
        yield _counter(
            "segstream_events_in", "Event records taken by the stream agent.", s.events_in
        )
        yield _counter(
            "segstream_events_rebatched",
            "Events the rebatcher forwarded from the events topic.",
            s.events_rebatched,
        )
        yield _labelled_counter("segstream_events_out", "Events by outcome.", "outcome", s.outcomes)
        yield _labelled_counter(
            "segstream_dead_letters",
            "Events sent to the dead-letter topic.",
            "reason",
            s.dead_letters,
        )
        yield _counter(
            "segstream_membership_changes",
            "Customer memberships written to Redis.",
            s.membership_changes,
        )
        yield _counter(
            "segstream_redis_write_errors",
            "Failed Redis write attempts (each is retried).",
            s.redis_write_errors,
        )
        yield _labelled_counter(
            "segstream_rule_evaluation_errors",
            "Rule conditions that raised and counted as false (null_operand | arithmetic).",
            "kind",
            s.rule_evaluation_errors,
        )
        yield _counter("segstream_rebalances", "Consumer group rebalances seen.", s.rebalances)
        rules = GaugeMetricFamily(
            "segstream_rules_info", "Active rules version (always 1).", labels=["version"]
        )
        rules.add_metric([s.rules_version], 1)
        yield rules
        yield _counter(
            "segstream_rules_rejections",
            "Rules versions refused (bad files or messages); the last good version kept running.",
            s.rules_rejections,
        )
        yield GaugeMetricFamily(
            "segstream_rules_rejected",
            "1 while the newest rules version offered is refused and an older one runs.",
            value=int(s.rules_rejected),
        )
        yield GaugeMetricFamily(
            "segstream_timers_pending",
            "Customers waiting for a time-driven re-evaluation on this worker.",
            value=s.timers_pending,
        )
        yield _labelled_counter(
            "segstream_reevaluations",
            "Profiles re-evaluated without an event, by reason.",
            "reason",
            s.reevaluations,
        )
        yield GaugeMetricFamily(
            "segstream_table_recovering",
            "1 while Faust rebalances or recovers tables.",
            value=int(s.recovering),
        )
        remaining = GaugeMetricFamily(
            "segstream_table_recovery_remaining_records",
            "Changelog records left to recover.",
            labels=["kind"],
        )
        for kind, count in sorted(s.recovery_remaining.items()):
            remaining.add_metric([kind], count)
        yield remaining
        yield GaugeMetricFamily(
            "segstream_redis_up", "1 when Redis answered the last PING.", value=int(s.redis_up)
        )
        yield _counter(
            "segstream_gc_collections",
            "Garbage collections in the worker process.",
            s.gc_collections,
        )
        yield _counter(
            "segstream_gc_pause_seconds",
            "Time the worker stood still in garbage collections.",
            s.gc_pause_seconds,
        )
        yield GaugeMetricFamily(
            "segstream_gc_longest_pause_seconds",
            "The longest garbage-collection pause since the worker started.",
            value=s.gc_longest_pause_seconds,
        )
        yield GaugeMetricFamily(
            "segstream_gc_frozen_objects",
            "Objects kept out of garbage collections; levels off once the profile cache is full.",
            value=s.gc_frozen_objects,
        )
        yield GaugeMetricFamily(
            "segstream_kafka_up",
            "1 when a Kafka broker answered the last metadata probe.",
            value=int(s.kafka_down_since is None),
        )
        ready = readiness(
            recovering=s.recovering, redis_ok=s.redis_up, kafka_down_since=s.kafka_down_since
        ).ready
        yield GaugeMetricFamily(
            "segstream_ready", "1 when the worker is ready (see /readyz).", value=int(ready)
        )


class ResyncCounts(Protocol):
    """What :class:`ResyncCollector` reads (``streams.worker_stats.WorkerStats`` has it)."""

    resyncs_started: dict[int, int]
    resyncs_completed: dict[int, int]
    resync_customers_rewritten: int


class ResyncCollector(Collector):
    """Resyncs (Redis rebuilt from the profiles, streams.schedule.resync) started and completed
    per partition, and the customers they published again."""

    def __init__(self, counts: Callable[[], ResyncCounts]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        counts = self._counts()
        yield _labelled_counter(
            "segstream_resyncs_started",
            "Resyncs this worker started, by partition (Redis lacked the partition's marker).",
            "partition",
            {str(p): n for p, n in counts.resyncs_started.items()},
        )
        yield _labelled_counter(
            "segstream_resyncs_completed",
            "Resyncs this worker completed (marker written again), by partition.",
            "partition",
            {str(p): n for p, n in counts.resyncs_completed.items()},
        )
        yield _counter(
            "segstream_resync_customers_rewritten",
            "Customers whose whole membership a resync published again.",
            counts.resync_customers_rewritten,
        )


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _labelled_counter(
    name: str, documentation: str, label: str, values: Mapping[str, int]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


class WorkerMetrics:
    """Metrics the worker sets as things happen; counters come from a :class:`Snapshot`."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        ProcessCollector(registry=registry)
        registry.register(SnapshotCollector(snapshot))
        self.freshness = BulkHistogram(
            "segstream_event_freshness_seconds",
            "Event time to the moment its batch was settled in Redis.",
            FRESHNESS_BUCKETS,
        )
        registry.register(self.freshness)
        self.freshness_last = Gauge(
            "segstream_freshness_last_batch_seconds",
            "Freshness of the newest event in the last settled batch.",
            registry=registry,
        )
        self.redis_latency = Histogram(
            "segstream_redis_write_seconds",
            "Time to write one batch's membership changes, retries included.",
            buckets=REDIS_BUCKETS,
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "segstream_consumer_lag",
            "Messages not yet committed by a consumer group (whole group, read by every worker).",
            ["group", "topic", "partition"],
            registry=registry,
        )
        self.lag_updated = Gauge(
            "segstream_consumer_lag_updated_timestamp_seconds",
            "When consumer lag was last read successfully.",
            registry=registry,
        )
        self.segment_members = Gauge(
            "segstream_segment_members", "Members of a segment (SCARD).", ["segment"],
            registry=registry,
        )  # fmt: skip
        self.model_info = Gauge(
            "segstream_model_info", "Active cluster model version (1); absent without a model.",
            ["version"], registry=registry,
        )  # fmt: skip
        self.model_updated = Gauge(
            "segstream_model_updated_timestamp_seconds",
            "When the active cluster model was trained or last updated; absent without a model.",
            ["version"], registry=registry,
        )  # fmt: skip

    def batch_settled(self, event_times: Sequence[float], redis_seconds: float | None) -> None:
        """Record one batch whose changes are in Redis (``redis_seconds``: None if none were)."""
        now = time.time()
        self.freshness.observe_many(now - t for t in event_times)
        if event_times:
            self.freshness_last.set(now - max(event_times))
        if redis_seconds is not None:
            self.redis_latency.observe(redis_seconds)

    def set_model(self, version: str, updated_at: float) -> None:
        """A model version became active (the worker calls it on every swap, ``_on_model``)."""
        self.model_info.clear()
        self.model_updated.clear()
        self.model_info.labels(version).set(1)
        self.model_updated.labels(version).set(updated_at)

    def set_lag(self, groups: Iterable[GroupLag]) -> None:
        for group in groups:
            for p in group.partitions:
                self.consumer_lag.labels(group.group, group.topic, str(p.partition)).set(p.lag)
        self.lag_updated.set(time.time())

    def set_segment_sizes(self, sizes: Mapping[str, int]) -> None:
        for segment, size in sizes.items():
            self.segment_members.labels(segment).set(size)
