"""What a worker adds for operations: ``/metrics``, ``/livez``, ``/readyz`` and a periodic poll.

The poll (every SEGSTREAM_OPS_INTERVAL_S) pings Redis, asks Kafka for metadata, reads segment sizes
and consumer lag, and logs what the log filter held back of causes that went quiet
(:func:`streams.ops.logs.flush_repeats`). Lag is read from Kafka with kafka-python in a thread, so
the event loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rules import RuleSet
from rules.active import ActiveRules
from rules.expression import EVALUATION_ERRORS
from streams.ingest.rebatcher import Rebatcher
from streams.kafka_security import security_options
from streams.ops.gc_pauses import GcPauses
from streams.ops.health import (
    kafka_answers,
    probe_client,
    readiness,
    redis_answers,
    table_recovery,
)
from streams.ops.lag import LagReader
from streams.ops.logs import flush_repeats
from streams.ops.metrics import Snapshot, WorkerMetrics
from streams.pipeline.batch import BatchOutcome
from streams.schedule.scheduler import Scheduler
from streams.settings import Settings
from streams.sink.aggregates import read_metrics_async, sizes_of
from streams.sink.redis_writer import RedisWriter
from streams.worker_stats import WorkerStats


class ObservedWorker(Protocol):
    """What the ops views read of a worker (:class:`streams.app.Segstream`), named here so that
    this module does not import the app that wires it in."""

    settings: Settings
    app: Any  # the faust.App
    stats: WorkerStats
    gc_pauses: GcPauses
    rebatcher: Rebatcher
    writer: RedisWriter
    active_rules: ActiveRules
    scheduler: Scheduler

    @property
    def rules(self) -> RuleSet: ...

log = logging.getLogger(__name__)

View = Callable[[Any, Any], Awaitable[Any]]

# Exported at 0 from the start: Prometheus sees no increase in a series that first appears at 1.
DEAD_LETTER_REASONS = ("bad_json", "too_large", "unknown_type", "invalid", "key_mismatch")
RULE_ERROR_KINDS = ("null_operand", "arithmetic")


class WorkerOps:
    """Metrics, health and lag for one :class:`~streams.app.Segstream` worker."""

    def __init__(self, segstream: ObservedWorker) -> None:
        self._segstream = segstream
        self.metrics = WorkerMetrics(self.snapshot)
        self.redis_ok = True  # until the first probe says otherwise (start-up waited for Redis)
        self.kafka_down_since: float | None = None  # when Kafka probes began to fail
        self._probe = probe_client(segstream.settings)
        self._lag = LagReader(segstream.settings)
        self._segments: set[str] = set()
        app = segstream.app
        app.page("/metrics")(self._metrics_view())
        app.page("/livez")(self._live_view())
        app.page("/readyz")(self._ready_view())
        app.timer(interval=segstream.settings.ops_interval_s)(self.poll)

    def settled(self, outcome: BatchOutcome[Any], redis_seconds: float) -> None:
        """Called by the agent once a batch's changes are in Redis."""
        for change in outcome.changes:
            self._segments.update(change.entered)
        self.metrics.batch_settled(outcome.event_times, redis_seconds if outcome.changes else None)

    def snapshot(self) -> Snapshot:
        segstream = self._segstream
        stats = segstream.stats
        recovering, remaining = table_recovery(segstream.app)
        dead = sum(stats.dead_letters.values())
        gc_pauses = segstream.gc_pauses
        return Snapshot(
            events_in=stats.received,
            events_rebatched=segstream.rebatcher.stats.forwarded,
            outcomes={"applied": stats.applied, "duplicate": stats.duplicates, "dead_letter": dead},
            dead_letters=dict.fromkeys(DEAD_LETTER_REASONS, 0) | stats.dead_letters,
            membership_changes=stats.changes_published,
            redis_write_errors=segstream.writer.failures,
            rule_evaluation_errors=dict.fromkeys(RULE_ERROR_KINDS, 0) | EVALUATION_ERRORS,
            rules_version=segstream.rules.version,
            rules_rejections=segstream.active_rules.rejections,
            rules_rejected=segstream.active_rules.rejected is not None,
            timers_pending=len(segstream.scheduler.due),
            reevaluations={"elapsed": 0, "rule_change": 0} | stats.reevaluated,
            rebalances=int(segstream.app.rebalancing_count),
            recovering=recovering,
            recovery_remaining=remaining,
            redis_up=self.redis_ok,
            kafka_down_since=self.kafka_down_since,
            gc_collections=gc_pauses.collections,
            gc_pause_seconds=gc_pauses.total_pause_s,
            gc_longest_pause_seconds=gc_pauses.longest_pause_s,
            gc_frozen_objects=gc_pauses.frozen_objects(),
        )

    async def poll(self) -> None:
        flush_repeats()
        self.redis_ok = await redis_answers(self._probe)
        if self.redis_ok:
            await self._read_segment_sizes()
        if not await self._probe_kafka():
            return  # the lag reader would only add its own connection errors
        try:
            self.metrics.set_lag(await asyncio.to_thread(self._lag.read))
        except Exception as exc:  # any Kafka trouble: keep serving, say so, retry next poll
            log.warning("could not read consumer lag: %r", exc)

    async def _probe_kafka(self) -> bool:
        """Ask Kafka now; remember since when it has not answered (logged once per outage)."""
        settings = self._segstream.settings
        if await kafka_answers(settings.kafka_servers, security=security_options(settings)):
            if self.kafka_down_since is not None:
                log.info("Kafka answers again (unreachable for %.0f s)", self._down_for())
            self.kafka_down_since = None
            return True
        if self.kafka_down_since is None:
            self.kafka_down_since = time.time()
            log.error("Kafka unreachable: not ready until a broker answers again")
        return False

    def _down_for(self) -> float:
        return 0.0 if self.kafka_down_since is None else time.time() - self.kafka_down_since

    def watched_segments(self) -> list[str]:
        """The rules' segments and every segment this worker published (clusters included)."""
        return sorted(self._segments | {rule.id for rule in self._segstream.rules.rules})

    async def _read_segment_sizes(self) -> None:
        settings = self._segstream.settings
        try:
            metrics = await read_metrics_async(
                self._probe, settings.redis_key_prefix, settings.topic_partitions
            )
        except Exception as exc:  # Redis went away between ping and read: next poll
            log.warning("could not read segment sizes: %r", exc)
            return
        sizes = sizes_of(metrics)
        watched = self.watched_segments()
        self.metrics.set_segment_sizes({name: sizes.get(name, 0) for name in watched})

    def _metrics_view(self) -> View:
        async def metrics(view: Any, request: Any) -> Any:
            body = generate_latest(self.metrics.registry)
            return view.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        return metrics

    def _live_view(self) -> View:
        async def live(view: Any, request: Any) -> Any:
            return view.json({"live": True, "time": time.time()})

        return live

    def _ready_view(self) -> View:
        async def ready(view: Any, request: Any) -> Any:
            # Ask Redis and Kafka now: a probe minutes old must not route traffic to a cut-off
            # worker.
            self.redis_ok = await redis_answers(self._probe)
            await self._probe_kafka()
            recovering, _ = table_recovery(self._segstream.app)
            state = readiness(
                recovering=recovering,
                redis_ok=self.redis_ok,
                kafka_down_since=self.kafka_down_since,
            )
            return view.json(state.as_json(), status=200 if state.ready else 503)

        return ready
