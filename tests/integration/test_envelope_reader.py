"""The worker reads envelopes Faust did not deliver straight from the batches topic."""

from __future__ import annotations

import asyncio

import pytest
from kafka import KafkaProducer

from streams.dependencies import ensure_topics
from streams.ingest.sequence import EnvelopeReader
from streams.kafka_security import aiokafka_options
from streams.settings import Settings
from streams.topics import batches_topic

pytestmark = pytest.mark.integration


def test_reads_exactly_the_requested_offsets_of_one_partition(settings: Settings) -> None:
    ensure_topics(settings)
    topic = batches_topic(settings)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all")
    for number in range(6):
        producer.send(topic, value=b"envelope %d" % number, partition=1)
    producer.send(topic, value=b"elsewhere", partition=0)
    producer.flush()
    producer.close()
    reader = EnvelopeReader(aiokafka_options(settings), topic)

    async def read() -> tuple[int, list[tuple[int, bytes]]]:
        first = await reader.first_offset(1)
        return first, [item async for item in reader.read(1, range(2, 5))]

    first, envelopes = asyncio.run(read())
    assert first == 0
    assert envelopes == [(2, b"envelope 2"), (3, b"envelope 3"), (4, b"envelope 4")]


def test_the_kept_read_reads_ranges_of_several_partitions_and_answers_what_is_there(
    settings: Settings,
) -> None:
    """The rebatcher's reads of other workers' envelopes: one consumer for every read, and a range
    reaching past the partition's end answers what exists once its time is up."""
    ensure_topics(settings)
    topic = batches_topic(settings)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all")
    for number in range(4):
        producer.send(topic, value=b"p1 %d" % number, partition=1)
        producer.send(topic, value=b"p2 %d" % number, partition=2)
    producer.flush()
    producer.close()
    reader = EnvelopeReader(aiokafka_options(settings), topic)

    async def read() -> list[dict[int, bytes]]:
        try:
            return [
                await reader.read_now(1, range(1, 3)),
                await reader.read_now(2, range(0, 2)),
                await reader.read_now(1, range(3, 4)),
                await reader.read_now(2, range(3, 6)),  # 4 and 5 are not written
            ]
        finally:
            await reader.close()

    assert asyncio.run(read()) == [
        {1: b"p1 1", 2: b"p1 2"},
        {0: b"p2 0", 1: b"p2 1"},
        {3: b"p1 3"},
        {3: b"p2 3"},
    ]
