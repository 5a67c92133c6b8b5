"""The Faust application: topics, the profiles table, the rebatcher, and one thin agent.

The rebatcher (:mod:`streams.ingest.rebatcher`) packs the events topic into envelopes on a
co-partitioned topic; the agent takes one envelope per Faust event, so its table writes are ordinary
writes inside a stream event, in the envelope's partition, which is the partition of every key in
it. All computation lives in :mod:`streams.pipeline.batch`. Faust flushes the producer (changelog,
dead letters) before it commits offsets, and Redis writes are awaited before the envelope is acked,
so a crash replays messages instead of losing them; profiles recognise replays by source offset.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import faust

from models.features import FeatureExtractor
from models.segments import ClusterSegments
from rules import BUILTIN_RULES, RuleSet
from rules.explain import explain
from streams.clusters.messages import encode_samples
from streams.clusters.report import cluster_stats
from streams.clusters.watcher import ModelWatcher
from streams.ingest.envelope import Envelope, Kind, SourceRecord, pack, unpack
from streams.ingest.rebatcher import Rebatcher
from streams.pipeline.batch import BatchProcessor, DeadLetter, InputRecord
from streams.pipeline.cache import ProfileCache
from streams.pipeline.identity import IDENTITY_SOURCE, IdentityMessage
from streams.profile import decode_profile
from streams.profile.features import FeatureView
from streams.settings import Settings
from streams.sink.redis_writer import RedisWriter, connect
from streams.topics import PROFILES_TABLE, batches_topic, cluster_samples_topic

log = logging.getLogger(__name__)

DEAD_LETTER_HEADER_PREFIX = "segstream-dlq-"
MODEL_WAIT_S = 30.0  # a starting agent waits this long for the current cluster model


@dataclass(slots=True)
class WorkerStats:
    """Counters since start; the periodic log line and (later) metrics read them."""

    received: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    changes_published: int = 0
    batches: int = 0
    logged_received: int = 0
    logged_at: float = field(default_factory=time.monotonic)


class FaustTableStore:
    """ProfileStore over a Faust table; only called while the agent handles an envelope event."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def load(self, key: str, handle: None) -> bytes | None:
        value: bytes | None = self._table.get(key.encode())
        return value

    def save(self, key: str, value: bytes, handle: None) -> None:
        self._table[key.encode()] = value

    def delete(self, key: str, handle: None) -> None:
        self._table.pop(key.encode(), None)


class Segstream:
    """One worker's Faust app and the parts its agent uses."""

    def __init__(self, settings: Settings, rules: RuleSet = BUILTIN_RULES) -> None:
        self.settings = settings
        self.rules = rules
        self.stats = WorkerStats()
        self.app = faust.App(
            settings.app_id,
            broker=[f"kafka://{server}" for server in settings.kafka_servers],
            store="rocksdb://",
            datadir=str(settings.data_dir),
            topic_partitions=settings.topic_partitions,
            topic_replication_factor=settings.topic_replication,
            web_host=settings.web_host,
            web_bind=settings.web_host,
            web_port=settings.web_port,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            table_standby_replicas=0,
        )
        raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes}
        raw |= {"key_serializer": "raw", "value_serializer": "raw"}
        self.batches_topic = self.app.topic(
            batches_topic(settings), partitions=settings.topic_partitions, **raw
        )
        self.dead_letter_topic = self.app.topic(settings.dead_letter_topic, **raw)
        # bytes key and value types make Faust use the raw codec: profiles bring their own.
        self.profiles = self.app.Table(
            PROFILES_TABLE,
            default=None,
            partitions=settings.topic_partitions,
            key_type=bytes,
            value_type=bytes,
        )
        self.rebatcher = Rebatcher(settings)
        self.cluster_watcher = ModelWatcher(settings, settings.cluster_feature_names)
        self.clusters = self._cluster_segments(settings)
        self.cluster_samples_topic = self.app.topic(cluster_samples_topic(settings), **raw)
        self.processor: BatchProcessor[None] = BatchProcessor(
            store=FaustTableStore(self.profiles),
            rules=lambda: self.rules,
            max_event_bytes=settings.max_event_bytes,
            cache=ProfileCache(settings.profile_cache_size),
            clusters=self.clusters,
        )
        self.writer = RedisWriter(connect(settings), settings.redis_key_prefix)
        self.app.agent(self.batches_topic, name="segstream.update_profiles")(self._agent)
        self.app.task(self.rebatcher.run)
        if self.clusters is not None:
            self.app.task(self.cluster_watcher.run)
        self.app.on_partitions_revoked.connect(self._forget_cached_profiles)
        self.app.on_partitions_assigned.connect(self._forget_cached_profiles)
        self.app.timer(interval=5.0)(self._log_progress)
        self.app.page("/segstream/stats")(self._stats_view())
        explain_view = self.app.table_route(table=self.profiles, match_info="customer_id")(
            self._explain_view()
        )
        self.app.page("/segstream/explain/{customer_id}/")(explain_view)

    def _cluster_segments(self, settings: Settings) -> ClusterSegments | None:
        if not settings.cluster_enabled:
            return None
        return ClusterSegments(
            FeatureExtractor.parse(settings.cluster_features),
            min_sessions=settings.cluster_min_sessions,
            sample_rate=settings.cluster_sample_rate,
            current=lambda: self.cluster_watcher.current,
        )

    async def _forget_cached_profiles(
        self, app: Any, /, *args: Any, signal: Any, **kwargs: Any
    ) -> None:
        # Another worker may own (and change) these profiles now; the table is the truth again.
        self.processor.cache.clear()

    async def _agent(self, stream: Any) -> None:
        if self.clusters is not None:  # so nobody is assigned without the current model
            await self.cluster_watcher.wait_ready(MODEL_WAIT_S)
        async for envelope in stream:
            await self.handle_envelope(envelope)

    async def handle_envelope(self, raw: bytes) -> None:
        envelope = unpack(raw)
        records = [
            InputRecord(r.key, r.value, envelope.topic, r.partition, r.offset, None)
            for r in envelope.records
        ]
        await self.handle_records(records)

    async def handle_records(self, records: Sequence[InputRecord[None]]) -> None:
        outcome = self.processor.process(records, time.time())
        for dead in outcome.dead_letters:
            await self._send_dead_letter(dead)
        for message in outcome.outbox:
            await self._send_identity(message)
        if outcome.samples and self.clusters is not None:
            samples = encode_samples(self.clusters.extractor.fingerprint, outcome.samples)
            await self.cluster_samples_topic.send(value=samples)
        await self.writer.publish(outcome.changes)
        stats = self.stats
        stats.batches += 1
        stats.received += len(records)
        stats.applied += outcome.applied
        stats.duplicates += outcome.duplicates
        stats.changes_published += len(outcome.changes)

    async def _send_identity(self, message: IdentityMessage) -> None:
        # Keyed by the id that must act next, so it lands in the partition that owns its profile.
        key = message.subject.encode()
        record = SourceRecord(-1, -1, key, message.encode())
        envelope = pack(Envelope(Kind.IDENTITY, IDENTITY_SOURCE, [record]))
        await self.batches_topic.send(key=key, value=envelope)

    async def _send_dead_letter(self, dead: DeadLetter[None]) -> None:
        record, rejection = dead.record, dead.rejection
        kind = rejection.kind
        self.stats.dead_letters[kind] = self.stats.dead_letters.get(kind, 0) + 1
        log.warning(
            "dead letter %s:%s@%s: %s", record.topic, record.partition, record.offset, rejection
        )
        headers = {
            "reason": str(rejection),
            "kind": kind,
            "field": rejection.field,
            "source-topic": record.topic,
            "source-partition": str(record.partition),
            "source-offset": str(record.offset),
        }
        await self.dead_letter_topic.send(
            key=record.key,
            value=record.value,
            headers=[(DEAD_LETTER_HEADER_PREFIX + k, v.encode()) for k, v in headers.items()],
        )

    def _stats_view(self) -> Callable[[Any, Any], Awaitable[Any]]:
        async def stats(view: Any, request: Any) -> Any:
            return view.json(self.stats_snapshot())

        return stats

    def _explain_view(self) -> Callable[[Any, Any, str], Awaitable[Any]]:
        async def explain_customer(view: Any, request: Any, customer_id: str) -> Any:
            # Faust routes the request to the worker that owns the customer's partition.
            return view.json(self.explain(customer_id))

        return explain_customer

    def explain(self, customer_id: str) -> dict[str, Any]:
        raw = self.profiles.get(customer_id.encode())
        if raw is None:
            return {"customer_id": customer_id, "found": False, "verdicts": []}
        profile = decode_profile(raw)
        features = FeatureView(profile, time.time())
        cluster = self.clusters.explain(features) if self.clusters else {"status": "disabled"}
        given = frozenset({cluster["segment_id"]}) if cluster.get("segment_id") else frozenset()
        verdicts = explain(self.rules, features, customer_id, given)
        return {
            "customer_id": customer_id,
            "found": True,
            "rules_version": self.rules.version,
            "consent": profile.consent,
            "merged_into": profile.merged_into,
            "published": sorted(profile.segments),
            "cluster": cluster,
            "verdicts": [asdict(verdict) for verdict in verdicts],
        }

    def stats_snapshot(self) -> dict[str, Any]:
        stats = self.stats
        return {
            "received": stats.received,
            "applied": stats.applied,
            "duplicates": stats.duplicates,
            "dead_letters": dict(stats.dead_letters),
            "changes_published": stats.changes_published,
            "envelopes": stats.batches,
            "forwarded_by_rebatcher": self.rebatcher.stats.forwarded,
            "profile_cache": {"size": len(self.processor.cache), "hits": self.processor.cache.hits},
            "rules_version": self.rules.version,
            "clusters": cluster_stats(self.cluster_watcher, self.clusters),
        }

    async def _log_progress(self) -> None:
        stats = self.stats
        now = time.monotonic()
        rate = (stats.received - stats.logged_received) / max(now - stats.logged_at, 1e-9)
        stats.logged_received, stats.logged_at = stats.received, now
        log.info(
            "events=%d (%.0f/s) applied=%d duplicates=%d dead_letters=%d published=%d",
            stats.received,
            rate,
            stats.applied,
            stats.duplicates,
            sum(stats.dead_letters.values()),
            stats.changes_published,
        )
