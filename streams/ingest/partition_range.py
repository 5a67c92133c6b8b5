"""Reading a range of offsets of one partition directly, outside any consumer group: a crashed
worker's envelopes (streams.ingest.sequence) and dead letters (streams.ingest.dead_letter_log)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

READ_TIMEOUT_S = 60.0


async def read_range(
    consumer: AIOKafkaConsumer, tp: TopicPartition, offsets: range
) -> AsyncIterator[Any]:
    """Every record of ``tp`` in ``offsets``, in order; fails after READ_TIMEOUT_S without
    progress rather than wait forever (a gap of compacted or aborted offsets is progress too)."""
    consumer.assign([tp])
    consumer.seek(tp, offsets.start)
    position, deadline = offsets.start, time.monotonic() + READ_TIMEOUT_S
    while position < offsets.stop:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{tp.topic}[{tp.partition}]: offsets {position}..{offsets.stop - 1} "
                f"not readable within {READ_TIMEOUT_S:.0f}s"
            )
        fetched = await consumer.getmany(tp, timeout_ms=1000)
        for record in fetched.get(tp, []):
            if record.offset < offsets.stop:
                yield record
        progress = await consumer.position(tp)
        if progress > position:
            position, deadline = progress, time.monotonic() + READ_TIMEOUT_S
