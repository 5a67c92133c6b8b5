"""Benchmark inputs, sent fast: CDNOW purchases (repeated under distinct customer ids) or the
simulator's shopper sessions (page views, carts, orders, ...)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

from aiokafka import AIOKafkaProducer

from streams.kafka_security import aiokafka_options
from streams.replay.cdnow import purchase_event, read_cdnow
from streams.settings import Settings
from streams.traffic import generate
from streams.traffic.generator import DAY_S


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


def simulated_events(
    count: int, *, customers: int = 20_000, id_prefix: str = "c"
) -> Iterator[tuple[bytes, bytes]]:
    """The first ``count`` events of a simulated history ending now (sessions of ~10 events)."""
    days = 30.0
    start = time.time() - days * DAY_S
    history = generate(customers, seed=11, start=start, days=days, id_prefix=id_prefix)
    for n, event in enumerate(history):
        if n >= count:
            return
        yield event.key.encode(), json.dumps(event.payload, separators=(",", ":")).encode()


async def _send(settings: Settings, topic: str, events: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        **aiokafka_options(settings), acks="all", linger_ms=20, max_batch_size=256 * 1024
    )
    await producer.start()
    try:
        pending = [await producer.send(topic, key=key, value=value) for key, value in events]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def send(settings: Settings, topic: str, events: list[tuple[bytes, bytes]]) -> None:
    asyncio.run(_send(settings, topic, events))
