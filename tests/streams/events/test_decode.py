"""The decoder accepts every event type as shops send it and names what is wrong with the rest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from streams.events import EVENT_TYPES, EventRejected, Rejection, decode_event
from streams.events import schemas as ev
from streams.settings import Settings
from tests.streams.events.malformed_corpus import CUSTOMER, MALFORMED, MAX_EVENT_BYTES, raw

TS = "2026-01-15T10:00:00Z"
TS_EPOCH = datetime(2026, 1, 15, 10, tzinfo=UTC).timestamp()
CONTEXT = {"device": "mobile", "channel": "email", "campaign": "winter-sale", "country": "DE"}

# One realistic message per type, as docs/events.md shows them.
REALISTIC: dict[str, dict[str, Any]] = {
    "page_view": {
        "url": "https://shop.example/c/fashion?page=2",
        "category": "fashion",
        "session_id": "s-81f2",
    },
    "product_view": {
        "sku": "dress-123",
        "category": "fashion",
        "price": "94.90",
        "session_id": "s-81f2",
    },
    "search": {"query": "red winter dress", "results": 42, "session_id": "s-81f2"},
    "add_to_cart": {
        "sku": "dress-123",
        "category": "fashion",
        "unit_price": 94.9,
        "quantity": 2,
        "session_id": "s-81f2",
    },
    "remove_from_cart": {"sku": "dress-123", "quantity": 1, "session_id": "s-81f2"},
    "checkout_started": {"cart_value": "94.90", "session_id": "s-81f2"},
    "purchase": {
        "order_id": "o-7781",
        "total": "84.90",
        "currency": "EUR",
        "coupon": "WINTER10",
        "session_id": "s-81f2",
        "items": [
            {
                "sku": "dress-123",
                "category": "fashion",
                "unit_price": "94.90",
                "quantity": 1,
                "discount": "10.00",
            }
        ],
    },
    "identify": {"anonymous_id": "v-3c9a"},
    "traits": {
        "traits": {
            "age": 34,
            "gender": "f",
            "income_band": "upper_middle",
            "country": "DE",
            "region": "Berlin",
            "city": "Berlin",
            "interests": ["yoga", "travel"],
            "household_size": 3,
            "has_children": True,
            "occupation": "engineer",
            "life_stage": "young_family",
            "lifestyle": "active",
            "values": ["sustainability"],
            "needs": ["convenience"],
        }
    },
    "consent": {"personalization": False},
    "forget": {},
}

MODELS: dict[str, type[BaseModel]] = {
    "page_view": ev.PageView,
    "product_view": ev.ProductView,
    "search": ev.Search,
    "add_to_cart": ev.AddToCart,
    "remove_from_cart": ev.RemoveFromCart,
    "checkout_started": ev.CheckoutStarted,
    "purchase": ev.Purchase,
    "identify": ev.Identify,
    "traits": ev.TraitsUpdate,
    "consent": ev.Consent,
    "forget": ev.Forget,
}


def message(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "event_id": f"{kind}-9f1c",
        "customer_id": "c000042",
        "ts": TS,
        "context": CONTEXT,
        **REALISTIC[kind],
        **fields,
    }


def decode(value: Any, max_bytes: int = MAX_EVENT_BYTES) -> ev.Event:
    return decode_event(json.dumps(value).encode(), max_bytes=max_bytes)


def rejection(value: bytes | None, max_bytes: int = MAX_EVENT_BYTES) -> Rejection:
    with pytest.raises(EventRejected) as rejected:
        decode_event(value, max_bytes=max_bytes)
    return rejected.value.rejection


# --- valid events -----------------------------------------------------------------------------


def test_examples_cover_every_event_type() -> None:
    assert set(REALISTIC) == set(EVENT_TYPES) == set(MODELS)


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_every_type_decodes_from_realistic_json(kind: str) -> None:
    event = decode(message(kind))
    assert isinstance(event, MODELS[kind])
    assert (event.type, event.event_id, event.subject_id) == (kind, f"{kind}-9f1c", "c000042")
    assert event.epoch_s == TS_EPOCH
    assert event.context == ev.Context(
        device="mobile", channel="email", campaign="winter-sale", country="DE"
    )
    assert event.v == 1


def test_purchase_fields_are_exact_decimals() -> None:
    event = decode(message("purchase"))
    assert isinstance(event, ev.Purchase)
    assert (event.total, event.currency, event.coupon) == (Decimal("84.90"), "EUR", "WINTER10")
    [line] = event.items
    assert (line.unit_price, line.quantity, line.discount) == (Decimal("94.90"), 1, Decimal(10))
    assert event.discount == Decimal(10)  # the sum of line discounts when no discount_total
    assert event.is_discounted


def test_purchase_defaults() -> None:
    event = decode(
        {
            "type": "purchase",
            "event_id": "e",
            "customer_id": "c",
            "ts": TS,
            "order_id": "o",
            "total": 5,
        }
    )
    assert isinstance(event, ev.Purchase)
    assert (event.items, event.currency, event.discount, event.is_discounted) == (
        [],
        "USD",
        Decimal(0),
        False,
    )
    explicit = decode(
        {
            "type": "purchase",
            "event_id": "e",
            "customer_id": "c",
            "ts": TS,
            "order_id": "o",
            "total": 5,
            "discount_total": "2.5",
            "items": [{"sku": "a", "category": "x", "unit_price": 1, "discount": 9}],
        }
    )
    assert isinstance(explicit, ev.Purchase)
    assert explicit.discount == Decimal("2.5")  # discount_total wins over the lines


def test_json_numbers_for_money_keep_their_decimal_digits() -> None:
    event = decode(message("add_to_cart"))
    assert isinstance(event, ev.AddToCart)
    assert event.unit_price == Decimal("94.9")
    assert event.quantity == 2


def test_traits_decode_every_field() -> None:
    event = decode(message("traits"))
    assert isinstance(event, ev.TraitsUpdate)
    assert event.traits.model_dump(exclude_none=True) == REALISTIC["traits"]["traits"]


def test_identify_names_both_ids_and_its_subject_is_the_customer() -> None:
    event = decode(message("identify"))
    assert isinstance(event, ev.Identify)
    assert (event.customer_id, event.anonymous_id, event.subject_id) == (
        "c000042",
        "v-3c9a",
        "c000042",
    )


def test_a_visitor_event_is_about_the_anonymous_id() -> None:
    value = {**message("page_view"), "customer_id": None, "anonymous_id": "v-3c9a"}
    assert decode(value).subject_id == "v-3c9a"
    del value["customer_id"]
    assert decode(value).subject_id == "v-3c9a"


def test_labels_are_stripped() -> None:
    event = decode(message("page_view", category="  fashion "))
    assert isinstance(event, ev.PageView)
    assert event.category == "fashion"


@pytest.mark.parametrize(
    "ts",
    [
        "2026-01-15T10:00:00Z",
        "2026-01-15T11:00:00+01:00",
        "2026-01-15T05:00:00-05:00",
        TS_EPOCH,  # epoch seconds
        int(TS_EPOCH * 1000),  # epoch milliseconds: numbers over 2e10 are read as ms
        str(int(TS_EPOCH)),
    ],
)
def test_time_formats_all_mean_the_same_instant(ts: Any) -> None:
    assert decode(message("search", ts=ts)).epoch_s == TS_EPOCH


def test_fractional_seconds_are_kept() -> None:
    assert decode(message("search", ts="2026-01-15T10:00:00.250Z")).epoch_s == TS_EPOCH + 0.25


def test_times_from_1990_to_a_day_ahead_are_plausible() -> None:
    assert decode(message("search", ts="1990-01-01T00:00:00Z")).epoch_s == 631_152_000
    ahead = datetime.now(UTC) + timedelta(hours=23)
    assert decode(message("search", ts=ahead.isoformat())).ts == ahead
    too_far = datetime.now(UTC) + timedelta(hours=25)
    value = json.dumps(message("search", ts=too_far.isoformat())).encode()
    assert (rejection(value).kind, rejection(value).field) == ("invalid", "ts")


def test_money_limits() -> None:
    assert decode(message("checkout_started", cart_value="0")).type == "checkout_started"
    event = decode(message("checkout_started", cart_value="1000000000.0000"))
    assert isinstance(event, ev.CheckoutStarted)
    assert event.cart_value == Decimal(10**9)
    event = decode(message("checkout_started", cart_value="0.0001"))
    assert isinstance(event, ev.CheckoutStarted)
    assert event.cart_value == Decimal("0.0001")


def test_ids_up_to_128_chars_and_1000_items_are_accepted() -> None:
    long_id = "x" * 128
    items = [{"sku": "a", "category": "x", "unit_price": "1"}] * 1000
    event = decode(
        {**message("purchase", items=items), "customer_id": long_id, "event_id": long_id}
    )
    assert isinstance(event, ev.Purchase)
    assert (event.subject_id, len(event.items)) == (long_id, 1000)


# --- size limit -------------------------------------------------------------------------------


def test_a_message_of_exactly_max_bytes_is_decoded_one_more_byte_is_too_large() -> None:
    value = json.dumps(message("forget")).encode()
    assert decode_event(value, max_bytes=len(value)).type == "forget"
    too_large = rejection(value, max_bytes=len(value) - 1)
    assert (too_large.kind, too_large.field) == ("too_large", "")
    assert f"{len(value)} bytes" in too_large.message


def test_size_is_checked_before_parsing() -> None:
    assert rejection(b"{" * 300, max_bytes=256).kind == "too_large"


# --- malformed corpus -------------------------------------------------------------------------


def test_corpus_is_large_distinct_and_sized_for_the_worker() -> None:
    assert len(MALFORMED) >= 25
    assert len({name for name, *_ in MALFORMED}) == len(MALFORMED)
    assert len({value for _, value, *_ in MALFORMED}) == len(MALFORMED)
    assert Settings.model_fields["max_event_bytes"].default == MAX_EVENT_BYTES
    for name, value, kind, _ in MALFORMED:
        assert (value is not None and len(value) > MAX_EVENT_BYTES) == (kind == "too_large"), name
    assert {kind for *_, kind, _ in MALFORMED} == {
        "too_large",
        "bad_json",
        "unknown_type",
        "invalid",
    }


@pytest.mark.parametrize(
    ("name", "value", "kind", "field"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_malformed_event_is_rejected_with_its_kind_and_field(
    name: str, value: bytes | None, kind: str, field: str | None
) -> None:
    rejected = rejection(value)
    assert (rejected.kind, rejected.field) == (kind, field or ""), rejected
    assert rejected.message
    assert str(rejected).startswith(kind)


def test_corpus_base_event_is_valid() -> None:
    event = decode_event(raw(), max_bytes=MAX_EVENT_BYTES)
    assert (event.type, event.subject_id) == ("purchase", CUSTOMER)


# --- rejection details ------------------------------------------------------------------------


def test_rejection_text_names_kind_field_and_message() -> None:
    rejected = rejection(raw(total="-5"))
    assert str(rejected) == f"invalid at total: {rejected.message}"
    assert str(Rejection("bad_json", "", "nope")) == "bad_json: nope"


def test_event_rejected_is_a_value_error_carrying_its_rejection() -> None:
    with pytest.raises(ValueError, match="unknown_type at type"):
        decode_event(raw(type="refund"), max_bytes=MAX_EVENT_BYTES)


def test_unknown_type_lists_the_known_ones() -> None:
    message = rejection(raw(type="refund")).message
    assert "'refund'" in message
    assert all(kind in message for kind in EVENT_TYPES)


def test_only_the_first_of_several_problems_is_named_with_a_count() -> None:
    rejected = rejection(raw(order_id=..., total="ten", currency="usd"))
    assert rejected.field == "order_id"
    assert rejected.message.endswith("(+2 more)")


def test_nested_non_objects_are_invalid_fields_not_bad_json() -> None:
    # Regression: these were reported as bad_json "expected a JSON object" with no field.
    assert (rejection(raw(context="web")).kind, rejection(raw(context="web")).field) == (
        "invalid",
        "context",
    )
    assert rejection(raw("traits", traits="x")).field == "traits"
    assert rejection(raw(items=[1])).field == "items.0"
