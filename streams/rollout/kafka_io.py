"""Publishing rule versions to the rules topic and reading them back (kafka-python, aiokafka)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as SyncTopicPartition

from streams.dependencies import DependencyError, ensure_topics
from streams.kafka_security import aiokafka_options, kafka_python_options
from streams.rollout.message import RULES_KEY, RulesMessage
from streams.settings import Settings
from streams.topics import rules_topic

log = logging.getLogger(__name__)


def publish_rules(settings: Settings, message: RulesMessage) -> int:
    """Send ``message`` to the rules topic and wait for the broker; returns its offset."""
    ensure_topics(settings)
    producer = KafkaProducer(**kafka_python_options(settings), acks="all")
    try:
        future = producer.send(rules_topic(settings), key=RULES_KEY, value=message.encode())
        offset: int = future.get(timeout=30).offset
        return offset
    finally:
        producer.close()


def read_rules_history(settings: Settings) -> tuple[list[tuple[int, bytes | None]], int]:
    """Every message still on the rules topic, oldest first, and the offset after the last."""
    partition = SyncTopicPartition(rules_topic(settings), 0)
    consumer = KafkaConsumer(
        **kafka_python_options(settings), enable_auto_commit=False, group_id=None
    )
    try:
        end = _end_offset(consumer, partition)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        out: list[tuple[int, bytes | None]] = []
        while end > 0:
            # poll() before position(): kafka-python can block in position() before a first fetch.
            for records in consumer.poll(timeout_ms=1000).values():
                out += [(record.offset, record.value) for record in records]
            if consumer.position(partition) >= end:
                break
        return out, end
    finally:
        consumer.close()


def _end_offset(consumer: KafkaConsumer, partition: SyncTopicPartition) -> int:
    # kafka-python 2.2 fails (AttributeError) asking offsets of a partition whose leader it has
    # not seen yet: load the topic's metadata first, and retry while a new topic gets its leader.
    deadline = time.monotonic() + 30
    while True:
        try:
            if consumer.partitions_for_topic(partition.topic):
                end: int = consumer.end_offsets([partition])[partition]
                return end
        except AttributeError:
            pass
        if time.monotonic() > deadline:
            raise DependencyError(f"topic {partition.topic} has no leader after 30 s")
        time.sleep(0.2)


async def follow_rules(
    settings: Settings,
    start_offset: int,
    on_message: Callable[[int, bytes | None], Awaitable[None]],
    on_read_up_to: Callable[[int], Awaitable[None]] | None = None,
) -> None:
    """Call ``on_message(offset, value)`` for each message from ``start_offset`` on, forever (no
    consumer group: every worker reads every version), then ``on_read_up_to(next offset)`` after
    each fetch, at least once a second.

    A message whose handling raises is logged and passed: the follower outlives any content.
    """
    partition = TopicPartition(rules_topic(settings), 0)
    consumer = AIOKafkaConsumer(
        **aiokafka_options(settings), enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        consumer.assign([partition])
        consumer.seek(partition, start_offset)
        next_offset = start_offset
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    await _handle(on_message, record.offset, record.value)
                    next_offset = record.offset + 1
            if on_read_up_to is not None:
                await on_read_up_to(next_offset)
    finally:
        await consumer.stop()


async def _handle(
    on_message: Callable[[int, bytes | None], Awaitable[None]], offset: int, value: bytes | None
) -> None:
    try:
        await on_message(offset, value)
    except Exception as exc:  # the follower must outlive any message (cancellation still ends it)
        log.error(
            "rules message at offset %d not handled (%s: %s); following on",
            offset, type(exc).__name__, str(exc)[:300],
        )  # fmt: skip
        log.debug("rules message at offset %d", offset, exc_info=True)
