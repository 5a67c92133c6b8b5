"""The decoder accepts every event type and names what is wrong with everything else."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streams.events import EVENT_TYPES, EventRejected, decode_event
from tests.integration.test_dead_letters import MALFORMED

TS = "2026-01-15T10:00:00Z"
VALID: dict[str, dict[str, Any]] = {
    "page_view": {"url": "/home"},
    "product_view": {"sku": "a", "category": "fashion", "price": "9.99"},
    "search": {"query": "boots", "results": 3},
    "add_to_cart": {"sku": "a", "category": "fashion", "unit_price": 9.99, "quantity": 2},
    "remove_from_cart": {"sku": "a"},
    "checkout_started": {"cart_value": "19.98"},
    "purchase": {"order_id": "o1", "total": "19.98", "coupon": "X",
                 "items": [{"sku": "a", "category": "fashion", "unit_price": "9.99",
                            "quantity": 2}]},
    "identify": {"anonymous_id": "v1"},
    "traits": {"traits": {"age": 30, "interests": ["yoga"], "income_band": "high"}},
    "consent": {"personalization": False},
    "forget": {},
}  # fmt: skip


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_every_type_decodes(kind: str) -> None:
    raw = {"type": kind, "event_id": "e1", "customer_id": "c1", "ts": TS, **VALID[kind]}
    event = decode_event(json.dumps(raw).encode(), max_bytes=65_536)
    assert (event.type, event.subject_id) == (kind, "c1")


MALFORMED_EVENTS = [m for m in MALFORMED if m[3] != "key_mismatch"]  # keys are the pipeline's


@pytest.mark.parametrize(("name", "raw", "kind"), [(m[0], m[2], m[3]) for m in MALFORMED_EVENTS])
def test_malformed_events_are_rejected_with_their_kind(name: str, raw: bytes, kind: str) -> None:
    with pytest.raises(EventRejected) as rejected:
        decode_event(raw, max_bytes=65_536)
    assert rejected.value.rejection.kind == kind, name
    assert str(rejected.value)


def test_rejections_name_the_field() -> None:
    raw = {"type": "purchase", "event_id": "e", "customer_id": "c", "ts": TS, "order_id": "o",
           "total": "1", "items": [{"sku": "a", "category": "x", "unit_price": "-1"}]}  # fmt: skip
    with pytest.raises(EventRejected) as rejected:
        decode_event(json.dumps(raw).encode(), max_bytes=65_536)
    assert rejected.value.rejection.field == "items.0.unit_price"


def test_tombstone_is_rejected() -> None:
    with pytest.raises(EventRejected):
        decode_event(None, max_bytes=100)
