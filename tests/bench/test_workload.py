"""Benchmark inputs: basket-heavy purchases, CDNOW purchases, and their line items."""

from __future__ import annotations

import json
from decimal import Decimal

from bench.workload import BASKET_ITEMS, basket_events, first_cdnow_events, line_items
from streams.events import decode_event
from streams.events.schemas import Purchase


def test_basket_heavy_purchases_are_valid_orders_of_10_to_30_items_whose_total_adds_up() -> None:
    baskets = list(basket_events(200))
    for _, value in baskets:
        purchase = decode_event(value, max_bytes=65_536)
        assert isinstance(purchase, Purchase)
        assert BASKET_ITEMS[0] <= len(purchase.items) <= BASKET_ITEMS[1]
        assert purchase.total == sum(
            (item.unit_price * item.quantity for item in purchase.items), Decimal(0)
        )
    sizes = {len(json.loads(value)["items"]) for _, value in baskets}
    assert min(sizes) == BASKET_ITEMS[0]
    assert max(sizes) == BASKET_ITEMS[1]


def test_the_same_seed_gives_the_same_baskets_apart_from_the_time() -> None:
    def orders(seed: int) -> list[tuple[bytes, list[object]]]:
        return [(k, json.loads(v)["items"]) for k, v in basket_events(50, seed=seed)]

    assert orders(5) == orders(5)
    assert orders(5) != orders(6)


def test_purchases_are_in_time_order_and_keyed_by_their_customer() -> None:
    events = [json.loads(value) | {"key": key.decode()} for key, value in basket_events(100)]
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    assert all(e["key"] == e["customer_id"] for e in events)


def test_cdnow_purchases_are_copied_as_often_as_the_count_needs() -> None:
    events = list(first_cdnow_events(70_000))  # the file has 69,659 rows
    assert len(events) == 70_000
    assert len({json.loads(value)["event_id"] for _, value in events}) == 70_000
    assert line_items(events[:10]) == 10  # one line item (of n CDs) each


def test_line_items_count_only_purchases_items() -> None:
    view = b'{"type":"page_view"}'
    order = b'{"type":"purchase","items":[{"sku":"a"},{"sku":"b"}]}'
    assert line_items([(b"k", view), (b"k", order), (b"k", b'{"type":"purchase"}')]) == 2
