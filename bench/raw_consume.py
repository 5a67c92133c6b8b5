"""The transport ceiling: how fast one plain aiokafka consumer reads a topic, doing nothing else.

    python -m bench.raw_consume BOOTSTRAP TOPIC EVENTS     -> one JSON line on stdout

Reads every partition from the start without a consumer group (nothing to join or commit), timed
from the first record to the ``EVENTS``-th. A worker cannot go faster than this in one process.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka_security import security_options
from streams.settings import Settings


async def consume(bootstrap: str, topic: str, events: int) -> dict[str, float]:
    consumer = AIOKafkaConsumer(
        # The brokers are the argument; how to log in is the SEGSTREAM_KAFKA_* environment's.
        **security_options(Settings()),
        bootstrap_servers=bootstrap.split(","),
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(await _partitions(consumer, topic))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen = first = 0
        started = cpu_started = 0.0
        while seen < events:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if batches and not seen:
                started, cpu_started = time.monotonic(), time.process_time()
                first = sum(len(records) for records in batches.values())
            seen += sum(len(records) for records in batches.values())
        # The clock started when the first batch arrived: its records are not in the timed span.
        timed = seen - first
        seconds = time.monotonic() - started
        cpu_us = (time.process_time() - cpu_started) / max(timed, 1) * 1e6
        return {"events": timed, "seconds": seconds, "cpu_us_per_event": cpu_us}
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(100):
        found: set[int] | None = consumer.partitions_for_topic(topic)
        if found:
            return found
        await consumer._client.force_metadata_update()  # a fresh client knows no topics yet
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} not found")


def main() -> None:
    bootstrap, topic, events = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(asyncio.run(consume(bootstrap, topic, events))))


if __name__ == "__main__":
    main()
