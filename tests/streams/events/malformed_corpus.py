"""Malformed events, each with the rejection the decoder must give; shared with integration tests.

Each entry is ``(name, raw_bytes, expected_kind, expected_field_or_None)``: ``raw_bytes`` is the
Kafka message value (``None`` is a tombstone), ``expected_kind`` the ``Rejection.kind`` and
``expected_field_or_None`` its dotted ``field``, or ``None`` when the rejection is about the whole
message (``field == ''``). Every event names customer ``gina``, so all can be sent with that key,
and no two values are equal, so a dead-letter consumer can match each one back to its entry.
``oversized`` is over :data:`MAX_EVENT_BYTES` (the ``max_event_bytes`` default); every other entry
is under it.
"""

from __future__ import annotations

import json
from typing import Any

MAX_EVENT_BYTES = 64 * 1024
CUSTOMER = "gina"
TS = "2026-01-15T10:00:00Z"

_BASE: dict[str, dict[str, Any]] = {
    "purchase": {"order_id": "o-1", "total": "10.00"},
    "page_view": {"url": "/home"},
    "product_view": {"sku": "dress-1", "category": "fashion"},
    "search": {"query": "boots"},
    "add_to_cart": {"sku": "dress-1", "category": "fashion", "unit_price": "9.99"},
    "identify": {"anonymous_id": "v-1"},
    "traits": {"traits": {"age": 30}},
    "consent": {"personalization": False},
}


def event(kind: str = "purchase", **changes: Any) -> dict[str, Any]:
    """A valid event of ``kind`` for gina with ``changes`` applied; a change to ``...`` drops it."""
    built: dict[str, Any] = {
        "type": kind,
        "event_id": f"bad-{kind}",
        "customer_id": CUSTOMER,
        "ts": TS,
        **_BASE[kind],
    }
    for name, value in changes.items():
        if value is ...:
            built.pop(name, None)
        else:
            built[name] = value
    return built


def raw(kind: str = "purchase", **changes: Any) -> bytes:
    return json.dumps(event(kind, **changes)).encode()


def _with_literal(total: str) -> bytes:
    """A purchase whose total is written as the bare JSON token ``total`` (NaN, Infinity, ...)."""
    return raw(total="__TOTAL__").replace(b'"__TOTAL__"', total.encode())


def _item(**changes: Any) -> dict[str, Any]:
    line: dict[str, Any] = {"sku": "dress-1", "category": "fashion", "unit_price": "9.99"}
    return {**line, **changes}


Malformed = tuple[str, bytes | None, str, str | None]

MALFORMED: list[Malformed] = [
    # --- not a JSON object at all ------------------------------------------------------------
    ("tombstone", None, "bad_json", None),
    ("empty bytes", b"", "bad_json", None),
    ("only whitespace", b"  \n ", "bad_json", None),
    ("not json", b"{nope", "bad_json", None),
    ("truncated json", raw()[:-7], "bad_json", None),
    ("trailing garbage", raw() + b" trailing", "bad_json", None),
    ("json array", json.dumps([event()]).encode(), "bad_json", None),
    ("json string", b'"purchase"', "bad_json", None),
    ("json number", b"42", "bad_json", None),
    ("json null", b"null", "bad_json", None),
    ("not utf-8", b"\xff\xfe\x00garbage", "bad_json", None),
    (
        "not utf-8 inside a string",
        raw(order_id="o-\x01").replace(b"\\u0001", b"\xc3\x28"),
        "bad_json",
        None,
    ),
    ("utf-8 byte order mark", b"\xef\xbb\xbf" + raw(order_id="o-bom"), "bad_json", None),
    ("oversized", raw(coupon="x" * (MAX_EVENT_BYTES + 1)), "too_large", None),
    # --- type ---------------------------------------------------------------------------------
    ("unknown type", raw(type="refund"), "unknown_type", "type"),
    ("type of another case", raw(type="Purchase"), "unknown_type", "type"),
    ("type is a number", raw(type=7), "unknown_type", "type"),
    ("missing type", raw(type=...), "invalid", "type"),
    ("schema version 2", raw(v=2), "invalid", "v"),
    # --- identity -----------------------------------------------------------------------------
    ("missing event id", raw(event_id=...), "invalid", "event_id"),
    ("event id is a number", raw(event_id=12345), "invalid", "event_id"),
    ("empty event id", raw(event_id=""), "invalid", "event_id"),
    ("event id over 128 chars", raw(event_id="e" * 129), "invalid", "event_id"),
    ("customer id with a space", raw(customer_id="gina smith"), "invalid", "customer_id"),
    ("customer id with a newline", raw(customer_id="gina\n"), "invalid", "customer_id"),
    (
        "visitor id with a tab",
        raw(customer_id=..., anonymous_id="v\t1"),
        "invalid",
        "anonymous_id",
    ),
    ("no customer or visitor", raw(customer_id=...), "invalid", None),
    ("customer and visitor null", raw(customer_id=None, anonymous_id=None), "invalid", None),
    ("identify without visitor", raw("identify", anonymous_id=...), "invalid", "anonymous_id"),
    (
        "identify without customer",
        raw("identify", customer_id=..., anonymous_id="v-2"),
        "invalid",
        "customer_id",
    ),
    # --- time ---------------------------------------------------------------------------------
    ("epoch 0", raw(ts=0), "invalid", "ts"),
    ("year 1970", raw(ts="1970-01-01T00:00:01Z"), "invalid", "ts"),
    ("a second before 1990", raw(ts="1989-12-31T23:59:59Z"), "invalid", "ts"),
    # Numbers over 2e10 are read as milliseconds, so epoch ms are fine (see test_decode); epoch
    # microseconds read as milliseconds would be year 50000+.
    ("epoch microseconds", raw(ts=1_736_935_200_000_000), "invalid", "ts"),
    ("epoch seconds in year 2603", raw(ts=19_999_999_999), "invalid", "ts"),
    ("far future", raw(ts="2999-01-01T00:00:00Z"), "invalid", "ts"),
    ("naive datetime", raw(ts="2026-01-15T10:00:00"), "invalid", "ts"),
    ("date without time", raw(ts="2026-01-15"), "invalid", "ts"),
    ("time as words", raw(ts="yesterday"), "invalid", "ts"),
    ("time as bool", raw(ts=True), "invalid", "ts"),
    ("missing time", raw(ts=...), "invalid", "ts"),
    # --- money --------------------------------------------------------------------------------
    ("negative total", raw(total="-5.00"), "invalid", "total"),
    ("total as words", raw(total="ten"), "invalid", "total"),
    ("total as list", raw(total=[10]), "invalid", "total"),
    ("NaN total", _with_literal("NaN"), "invalid", "total"),
    ("Infinity total", _with_literal("Infinity"), "invalid", "total"),
    ("-Infinity total", _with_literal("-Infinity"), "invalid", "total"),
    ("total overflowing a double", _with_literal("1e999"), "invalid", "total"),
    ("total with 5 decimals", raw(total="10.00001"), "invalid", "total"),
    ("total over a billion", raw(total="1000000000.01"), "invalid", "total"),
    ("missing total", raw(total=...), "invalid", "total"),
    ("bad currency", raw(currency="dollars"), "invalid", "currency"),
    ("lowercase currency", raw(currency="usd"), "invalid", "currency"),
    # --- line items ---------------------------------------------------------------------------
    ("items not a list", raw(items={"sku": "a"}), "invalid", "items"),
    ("item not an object", raw(items=["dress-1"]), "invalid", "items.0"),
    (
        "negative unit price",
        raw(items=[_item(unit_price="-1")]),
        "invalid",
        "items.0.unit_price",
    ),
    ("zero quantity", raw(items=[_item(quantity=0)]), "invalid", "items.0.quantity"),
    ("fractional quantity", raw(items=[_item(quantity=1.5)]), "invalid", "items.0.quantity"),
    (
        "item without category",
        raw(items=[_item(), {"sku": "x", "unit_price": "1"}]),
        "invalid",
        "items.1.category",
    ),
    (
        "1001 items",
        raw(items=[{"sku": "a", "category": "x", "unit_price": "1"}] * 1001),
        "invalid",
        "items",
    ),
    ("quantity as words", raw("add_to_cart", quantity="two"), "invalid", "quantity"),
    ("quantity over 10000", raw("add_to_cart", quantity=10_001), "invalid", "quantity"),
    # --- other fields -------------------------------------------------------------------------
    ("unknown field", raw(shipping="express"), "invalid", "shipping"),
    ("unknown context field", raw(context={"referrer": "x"}), "invalid", "context.referrer"),
    ("context not an object", raw(context=["mobile"]), "invalid", "context"),
    ("unknown device", raw(context={"device": "fridge"}), "invalid", "context.device"),
    ("country name not code", raw(context={"country": "Germany"}), "invalid", "context.country"),
    ("lowercase country", raw(context={"country": "de"}), "invalid", "context.country"),
    ("blank label", raw(coupon="   "), "invalid", "coupon"),
    ("id with a space in a field", raw("product_view", sku="dress 1"), "invalid", "sku"),
    ("url over 2048 chars", raw("page_view", url="/" + "a" * 2048), "invalid", "url"),
    ("missing url", raw("page_view", url=...), "invalid", "url"),
    ("product view without category", raw("product_view", category=...), "invalid", "category"),
    ("negative search results", raw("search", results=-1), "invalid", "results"),
    ("consent as words", raw("consent", personalization="maybe"), "invalid", "personalization"),
    ("consent missing", raw("consent", personalization=...), "invalid", "personalization"),
    ("traits not an object", raw("traits", traits=[]), "invalid", "traits"),
    ("unknown trait", raw("traits", traits={"shoe_size": 42}), "invalid", "traits.shoe_size"),
    ("age under 13", raw("traits", traits={"age": 7}), "invalid", "traits.age"),
    ("age as words", raw("traits", traits={"age": "old"}), "invalid", "traits.age"),
    (
        "unknown income band",
        raw("traits", traits={"income_band": "rich"}),
        "invalid",
        "traits.income_band",
    ),
    (
        "interests not a list",
        raw("traits", traits={"interests": "yoga"}),
        "invalid",
        "traits.interests",
    ),
]
