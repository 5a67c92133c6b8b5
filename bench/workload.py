"""Benchmark inputs, sent fast: CDNOW purchases (repeated under distinct customer ids), the
simulator's shopper sessions (page views, carts, orders, ...), or basket-heavy purchases (10 to 30
line items each)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterable, Iterator
from itertools import islice

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


def first_cdnow_events(count: int) -> Iterator[tuple[bytes, bytes]]:
    """The first ``count`` CDNOW purchase events, copied as often as ``count`` needs."""
    copies = -(-count // CDNOW_ROWS)
    return islice(cdnow_events(copies), count)


CDNOW_ROWS = 69_659
BASKET_ITEMS = (10, 30)  # line items per purchase, both included
BASKET_CATEGORIES = ("books", "music", "toys", "garden", "kids", "grocery", "beauty", "sports")


def basket_events(
    count: int, *, customers: int = 20_000, seed: int = 7, days: float = 30.0
) -> Iterator[tuple[bytes, bytes]]:
    """``count`` purchases of 10 to 30 line items each, by ``customers`` customers over the last
    ``days`` (in time order), the same for the same seed: the basket-heavy end of real orders,
    where a profile update walks many items."""
    rng = random.Random(seed)
    start = time.time() - days * DAY_S
    for n in range(count):
        customer = f"k{rng.randrange(customers):07d}"
        lines = [_line_item(rng) for _ in range(rng.randint(*BASKET_ITEMS))]
        event = {
            "type": "purchase",
            "event_id": f"b-{seed}-{n}",
            "customer_id": customer,
            "ts": _iso(start + (n + 1) * days * DAY_S / (count + 1)),
            "order_id": f"bo-{seed}-{n}",
            "items": [item for item, _ in lines],
            "total": _money(sum(cents for _, cents in lines)),
            "context": {"channel": "web"},
        }
        yield customer.encode(), json.dumps(event, separators=(",", ":")).encode()


def _line_item(rng: random.Random) -> tuple[dict[str, str | int], int]:
    """A random line item and what it costs in cents."""
    category = rng.choice(BASKET_CATEGORIES)
    cents, quantity = rng.randrange(100, 10_000), rng.randint(1, 3)
    item: dict[str, str | int] = {
        "sku": f"{category[:3]}-{rng.randrange(1000)}",
        "category": category,
        "unit_price": _money(cents),
        "quantity": quantity,
    }
    return item, cents * quantity


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def line_items(events: Iterable[tuple[bytes, bytes]]) -> int:
    """Line items of the purchases among ``events`` (other events have none)."""
    return sum(len(json.loads(value).get("items") or ()) for _, value in events)


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
