"""The Faust application: topics, the profiles table, and one thin batch agent.

All computation lives in :mod:`streams.pipeline.batch`; the agent only hands it batches of messages,
sends dead letters, publishes membership changes to Redis, and lets Faust ack the batch afterwards.
Faust flushes the producer (changelog and dead letters) before it commits offsets, and every Redis
write is awaited before the batch is acked, so a crash at any point replays, never loses, a message;
profiles recognise replayed messages by offset, so nothing counts twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import faust

from rules import BUILTIN_RULES, RuleSet
from streams.faust_context import acting_as
from streams.pipeline.batch import BatchProcessor, DeadLetter, InputRecord
from streams.settings import Settings
from streams.sink.redis_writer import RedisWriter, connect
from streams.topics import PROFILES_TABLE

log = logging.getLogger(__name__)

DEAD_LETTER_HEADER_PREFIX = "segstream-dlq-"


@dataclass(slots=True)
class WorkerStats:
    """Counters since start; the periodic log line and (later) metrics read them."""

    received: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    changes_published: int = 0
    batches: int = 0
    started: float = field(default_factory=time.monotonic)


class FaustTableStore:
    """ProfileStore over a Faust table, writing each key on behalf of the event that carried it."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def load(self, key: str, handle: Any) -> bytes | None:
        with acting_as(handle):
            value: bytes | None = self._table.get(key.encode())
            return value

    def save(self, key: str, value: bytes, handle: Any) -> None:
        with acting_as(handle):
            self._table[key.encode()] = value

    def delete(self, key: str, handle: Any) -> None:
        with acting_as(handle):
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
        self.events_topic = self.app.topic(settings.events_topic, **raw)
        self.dead_letter_topic = self.app.topic(settings.dead_letter_topic, **raw)
        # bytes key and value types make Faust use the raw codec: profiles bring their own.
        self.profiles = self.app.Table(
            PROFILES_TABLE,
            default=None,
            partitions=settings.topic_partitions,
            key_type=bytes,
            value_type=bytes,
        )
        self.processor: BatchProcessor[Any] = BatchProcessor(
            store=FaustTableStore(self.profiles),
            rules=lambda: self.rules,
            max_event_bytes=settings.max_event_bytes,
        )
        self.writer = RedisWriter(connect(settings), settings.redis_key_prefix)
        self.app.agent(self.events_topic, name="segstream.update_profiles")(self._agent)
        self.app.timer(interval=5.0)(self._log_progress)

    async def _agent(self, stream: Any) -> None:
        settings = self.settings
        async for batch in stream.take_events(settings.batch_max_events, settings.batch_max_wait_s):
            await self.handle_batch(batch)

    async def handle_batch(self, batch: Sequence[Any]) -> None:
        records = [
            InputRecord(
                event.key,
                event.value,
                event.message.topic,
                event.message.partition,
                event.message.offset,
                event,
            )
            for event in batch
        ]
        outcome = self.processor.process(records, time.time())
        for dead in outcome.dead_letters:
            await self._send_dead_letter(dead)
        await self.writer.publish(outcome.changes)
        stats = self.stats
        stats.batches += 1
        stats.received += len(records)
        stats.applied += outcome.applied
        stats.duplicates += outcome.duplicates
        stats.changes_published += len(outcome.changes)

    async def _send_dead_letter(self, dead: DeadLetter[Any]) -> None:
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

    async def _log_progress(self) -> None:
        stats = self.stats
        elapsed = max(time.monotonic() - stats.started, 1e-9)
        log.info(
            "events=%d (%.0f/s) applied=%d duplicates=%d dead_letters=%d published=%d",
            stats.received,
            stats.received / elapsed,
            stats.applied,
            stats.duplicates,
            sum(stats.dead_letters.values()),
            stats.changes_published,
        )
