"""Reads the public events topic with a plain aiokafka consumer and forwards it as envelopes.

Nothing is decoded here: the rebatcher only moves bytes, so it keeps up with the transport. It polls
again once the agent handled what it sent last (:mod:`streams.ingest.pacing`). Offsets
of the events topic are committed only after the envelopes carrying them are acknowledged by the
broker (acks=all); after a crash or a rebalance they are sent again, and profiles drop the repeats
by source offset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from streams.ingest.envelope import Envelope, Kind, Record, pack
from streams.ingest.pacing import AgentProgress
from streams.settings import Settings
from streams.topics import batches_topic, ingest_group

log = logging.getLogger(__name__)

RETRY_S = 1.0
# Offsets are committed at most this often (and whenever the topic runs dry): a commit per poll was
# a broker round trip per few events at moderate rates. Committing later only means a crash re-sends
# more, which profiles drop as repeats.
COMMIT_INTERVAL_S = 0.5


@dataclass(slots=True)
class RebatcherStats:
    forwarded: int = 0
    envelopes: int = 0
    retries: int = 0


def envelopes_for(
    topic: str, records: Sequence[Any], max_bytes: int
) -> Iterator[tuple[bytes, int]]:
    """Pack one partition's records into envelopes of at most about ``max_bytes`` each.

    Yields (envelope bytes, record count).
    """
    chunk: list[Record] = []
    size = 0
    for record in records:  # aiokafka's ConsumerRecords, packed as they are
        record_size = 32 + len(record.key or b"") + len(record.value or b"")
        if chunk and size + record_size > max_bytes:
            yield pack(Envelope(Kind.EVENTS, topic, chunk)), len(chunk)
            chunk, size = [], 0
        chunk.append(record)
        size += record_size
    if chunk:
        yield pack(Envelope(Kind.EVENTS, topic, chunk)), len(chunk)


class Rebatcher:
    def __init__(self, settings: Settings, progress: AgentProgress | None = None) -> None:
        self.settings = settings
        self.stats = RebatcherStats()
        self._target = batches_topic(settings)
        self._progress = progress  # None: forward whatever arrived, at once (no pacing)
        self._sent: dict[int, int] = {}  # partition -> offset of the last envelope forwarded
        self._uncommitted: dict[TopicPartition, int] = {}  # forwarded and acknowledged
        self._committed_at = 0.0

    async def run(self) -> None:
        """Forward forever; Kafka errors are retried from the last committed offsets."""
        settings = self.settings
        consumer = AIOKafkaConsumer(
            settings.events_topic,
            bootstrap_servers=settings.kafka_servers,
            group_id=ingest_group(settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_servers,
            acks="all",
            linger_ms=2,
            max_request_size=4 * 1024 * 1024,
        )
        await consumer.start()
        await producer.start()
        try:
            while True:
                try:
                    await self._forward_once(consumer, producer)
                except (KafkaError, OSError) as exc:
                    self.stats.retries += 1
                    log.warning("rebatcher: %r; re-reading from committed offsets", exc)
                    self._uncommitted.clear()
                    await asyncio.sleep(RETRY_S)
                    await consumer.seek_to_committed()
        finally:
            await consumer.stop()
            await producer.stop()

    async def _forward_once(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> None:
        settings = self.settings
        if self._progress is not None and self._sent:
            await self._progress.wait(self._sent, settings.batch_max_wait_s)
        batches = await consumer.getmany(
            timeout_ms=int(settings.batch_max_wait_s * 1000), max_records=settings.batch_max_events
        )
        if not batches:
            await self._commit(consumer)
            return
        deliveries = []
        for tp, records in batches.items():
            for envelope, count in envelopes_for(tp.topic, records, settings.envelope_max_bytes):
                sent = await producer.send(self._target, value=envelope, partition=tp.partition)
                deliveries.append(sent)
                self.stats.envelopes += 1
                self.stats.forwarded += count
        delivered = await asyncio.gather(*deliveries)
        self._sent = {metadata.partition: metadata.offset for metadata in delivered}
        self._uncommitted |= {tp: records[-1].offset + 1 for tp, records in batches.items()}
        if asyncio.get_running_loop().time() - self._committed_at >= COMMIT_INTERVAL_S:
            await self._commit(consumer)

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        """Commit what was forwarded and acknowledged, for the partitions still assigned."""
        assigned = consumer.assignment()
        offsets = {tp: offset for tp, offset in self._uncommitted.items() if tp in assigned}
        self._uncommitted.clear()
        self._committed_at = asyncio.get_running_loop().time()
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except CommitFailedError as exc:
            # A rebalance took the partitions away; their new owner sends them again.
            log.info("rebatcher: commit skipped after a rebalance (%s)", exc)
