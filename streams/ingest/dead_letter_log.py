"""Reads back what the dead-letter topic holds beyond a partition's marks, after a crash.

A batch's dead letters are in Kafka before its changelog marks them as sent (a mark without its
dead letter would lose it); a worker killed between the two has sent dead letters that no mark
names, and their records are replayed. So before the first dead letter a worker sends for a
partition it was assigned, it reads the dead-letter topic's partition of that source from the last
one the marks name to its end: what it finds there is not sent again
(:mod:`streams.pipeline.dead_letters`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.ingest.partition_range import read_range
from streams.pipeline.dead_letters import HEADER_PREFIX, SentBefore


class DeadLetterLog:
    """The dead-letter topic, read directly, outside any consumer group."""

    def __init__(self, kafka: Mapping[str, Any], topic: str) -> None:
        self._kafka = kafka  # brokers and security: streams.kafka_security.aiokafka_options
        self._topic = topic
        self._partitions: int | None = None

    async def partitions(self) -> int:
        """How many partitions the topic has (asked once)."""
        if self._partitions is None:
            # A producer's public way to wait for a topic's metadata (the consumer has none).
            producer = AIOKafkaProducer(**self._kafka)
            await producer.start()
            try:
                self._partitions = len(await producer.partitions_for(self._topic))
            finally:
                await producer.stop()
        return self._partitions

    async def sent_after(self, partition: int, after: int | None) -> SentBefore:
        """The sources (topic:partition -> highest offset) of the dead letters in ``partition``
        after offset ``after`` (from its start if None), up to its current end."""
        found = SentBefore()
        consumer = await self._consumer()
        try:
            tp = TopicPartition(self._topic, partition)
            end = (await consumer.end_offsets([tp]))[tp]
            if after is None:  # from its start: the first offset still kept
                after = (await consumer.beginning_offsets([tp]))[tp] - 1
            async for record in read_range(consumer, tp, range(after + 1, end)):
                found.add(record.offset, _source(record.headers))
        finally:
            await consumer.stop()
        return found

    async def _consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(**self._kafka, group_id=None, enable_auto_commit=False)
        await consumer.start()
        return consumer


def _source(headers: Sequence[tuple[str, bytes]]) -> tuple[str, int] | None:
    """(topic:partition, offset) from a dead letter's headers, or None if it names none."""
    named = {key.removeprefix(HEADER_PREFIX): value for key, value in headers}
    try:
        source = f"{named['source-topic'].decode()}:{int(named['source-partition'])}"
        return source, int(named["source-offset"])
    except (KeyError, ValueError, UnicodeDecodeError):
        return None
