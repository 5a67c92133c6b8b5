"""Benchmark input: the CDNOW purchases, repeated under distinct customer ids, sent fast."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

from aiokafka import AIOKafkaProducer

from streams.replay.cdnow import purchase_event, read_cdnow


def cdnow_events(copies: int) -> Iterator[tuple[bytes, bytes]]:
    """``copies`` x 69,659 purchase events; copy ``n`` prefixes customer ids with ``n``."""
    rows = list(read_cdnow())
    for copy in range(copies):
        for row in rows:
            key, raw = purchase_event(row)
            event = json.loads(raw)
            customer = f"{copy}-{key}"
            event["customer_id"] = customer
            event["event_id"] = event["order_id"] = f"{copy}-{event['event_id']}"
            yield customer.encode(), json.dumps(event, separators=(",", ":")).encode()


async def _send(servers: list[str], topic: str, events: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=servers, acks="all", linger_ms=20, max_batch_size=256 * 1024
    )
    await producer.start()
    try:
        pending = [await producer.send(topic, key=key, value=value) for key, value in events]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def send(servers: list[str], topic: str, events: list[tuple[bytes, bytes]]) -> None:
    asyncio.run(_send(servers, topic, events))
