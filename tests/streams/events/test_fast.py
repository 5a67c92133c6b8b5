"""The plain-event validator accepts only what the full one accepts, as the very same object.

Compared with the full validation (the models in ``schemas``) on valid events, on events near and
over every bound, and on hostile input (cut or damaged bytes, wrong types, unknown, missing and
repeated fields, huge numbers, NaN and Infinity, deep nesting, unicode and whitespace of every
kind), so that taking the shortcut can never change an event or a dead letter's reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError, model_validator

from bench.workload import first_cdnow_events, simulated_events
from streams.events import EVENT_TYPES, EventRejected, decode
from streams.events.fast import SchemaDrift, plain_decoder
from streams.events.schemas import Event
from tests.streams.events.malformed_corpus import MALFORMED, MAX_EVENT_BYTES
from tests.streams.events.test_decode import message
from tests.streams.events.test_decode_fuzz import FUZZ, JSONISH, encoded, raw_message

FULL: TypeAdapter[Event] = TypeAdapter(Event)
plain = plain_decoder(FULL)


def full(raw: bytes) -> Event | None:
    try:
        return FULL.validate_json(raw)
    except ValidationError:
        return None


def assert_same(shortcut: Event, validated: Event) -> None:
    """The same class, values, defaults and fields set, nested models included."""
    assert type(shortcut) is type(validated)
    assert repr(shortcut) == repr(validated)  # field order, Decimal digits, the tzinfo's class
    assert shortcut == validated
    assert shortcut.model_dump(exclude_unset=True) == validated.model_dump(exclude_unset=True)
    assert shortcut.__pydantic_extra__ == validated.__pydantic_extra__
    assert shortcut.__pydantic_private__ == validated.__pydantic_private__
    assert shortcut.epoch_s == validated.epoch_s


def check_against_full(raw: bytes) -> bool:
    """Whether the shortcut took ``raw``; whenever it did, the full validator agrees exactly."""
    shortcut = plain(raw)
    if shortcut is None:
        return False
    validated = full(raw)
    assert validated is not None, raw
    assert_same(shortcut, validated)
    return True


def money_text(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` with its money written as text (the shortcut leaves JSON numbers to pydantic)."""
    converted: dict[str, Any] = json.loads(json.dumps(message), parse_float=str)
    return converted


# --- the events shops send take the shortcut --------------------------------------------------


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_plainly_valid_events_skip_the_full_validation(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = json.dumps(money_text(message(kind))).encode()
    expected = FULL.validate_json(raw)

    class Refusing:
        def validate_json(self, data: bytes) -> Event:
            raise AssertionError("the full validation ran")

    monkeypatch.setattr(decode, "_EVENT_ADAPTER", Refusing())
    assert_same(decode.decode_event(raw, max_bytes=MAX_EVENT_BYTES), expected)


def test_every_benchmark_and_demo_event_takes_the_shortcut() -> None:
    events = [raw for _, raw in [*simulated_events(3000), *first_cdnow_events(300)]]
    item = {"sku": "cd-1", "category": "music", "unit_price": "11.77", "quantity": 2}
    basket = money_text(message("purchase", items=[item] * 30, discount_total="5.00"))
    assert all(check_against_full(raw) for raw in [*events, json.dumps(basket).encode()])


# --- never anything the full validation would not give ---------------------------------------


def test_malformed_corpus_goes_to_the_full_validation_for_its_reason() -> None:
    for name, raw, _, _ in MALFORMED:
        assert raw is None or len(raw) > MAX_EVENT_BYTES or plain(raw) is None, name


NOW = datetime.now(UTC)
# Candidate values per field: valid ones at and near each bound, and invalid ones just over it.
IDS: list[Any] = [
    "c1", "x" * 128, "x" * 129, "", "a b", "a\tb", "a\u00a0b", "a\u2003b", "a\x1cb", "é", "日本",
    "\x7f", "a\u200bb", " a", "a\n", None, 7, True, ["a"], {"a": 1},
]  # fmt: skip
LABELS: list[Any] = [
    "fashion", "x" * 64, "x" * 65, " fashion", "fashion ", "  ", "", "\u00a0x", "x\u3000",
    "Fashion & Home", "\u0085x", None, 3, False,
]  # fmt: skip
MONEY: list[Any] = [
    "0", "0.0", "0.0001", "1.00000", "12.50", "999999999.9999", "1000000000", "01.5", "1e3",
    "-0", "-1", "1.", ".5", " 1.5", "1.5 ", "\uff11\uff12", "NaN", "Infinity", "+1", "1_000",
    12, 12.5, 0, -1, 10**20, None, True, "1000000000.0000", "0.00001",
]  # fmt: skip
TIMES: list[Any] = [
    "2026-01-15T10:00:00Z", "2026-01-15T10:00:00.1Z", "2026-01-15T10:00:00.123456Z",
    "2026-01-15T10:00:00.1234567Z", "2026-01-15T10:00:00.123456789Z", "2026-01-15T10:00:00z",
    "2026-01-15 10:00:00Z", "2026-01-15t10:00:00Z", "2026-01-15T10:00Z", "2026-01-15T10:00:00",
    "2026-01-15T10:00:00+00:00", "2026-01-15T10:00:00-00:00", "2026-01-15T10:00:00+23:59",
    "2026-01-15T10:00:00-23:59", "2026-01-15T10:00:00+24:00", "2026-01-15T10:00:00+0100",
    "2026-01-15T10:00:00+01", "2026-01-15T10:00:00+01:60", "2024-02-29T00:00:00Z",
    "2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-15T24:00:00Z",
    "2026-12-31T23:59:60Z", "1990-01-01T00:00:00Z", "1989-12-31T23:59:59.999999Z",
    "1990-01-01T00:00:00+00:01", "0000-01-01T00:00:00Z", "\uff12\uff10\uff12\uff16-01-15T10:00Z",
    (NOW + timedelta(hours=23)).isoformat(), (NOW + timedelta(hours=25)).isoformat(),
    (NOW + timedelta(days=1, seconds=-1)).isoformat().replace("+00:00", "Z"),
    1_736_935_200, 1_736_935_200.5, 1_736_935_200_000, "1736935200", 0, None, True,
]  # fmt: skip
WHOLE: list[Any] = [
    0, 1, 2, 13, 120, 121, 30, 31, 10_000, 10_001, -1, 2**63, 10**30, 1.0, 1.5, "2", None, True,
    False,
]  # fmt: skip
FLAGS: list[Any] = [True, False, 0, 1, "true", "false", None]
LISTS: list[Any] = [
    [], ["yoga"], ["yoga"] * 20, ["yoga"] * 21, ["yoga"] * 51, [" yoga"], [1], "yoga", None,
]  # fmt: skip
CHOICES: list[Any] = [
    "mobile", "desktop", "fridge", "Mobile", "low", "middle", "rich", "USD", "usd", "DE", "De",
    "D", "DEU", "ÄB", "D1", None, 1,
]  # fmt: skip
BY_FIELD: dict[str, list[Any]] = {
    **dict.fromkeys(["event_id", "customer_id", "anonymous_id", "sku", "order_id"], IDS),
    "session_id": IDS,
    **dict.fromkeys(["category", "channel", "campaign", "coupon", "gender", "city"], LABELS),
    **dict.fromkeys(["price", "unit_price", "total", "cart_value", "discount"], MONEY),
    "discount_total": MONEY,
    "ts": TIMES,
    **dict.fromkeys(["quantity", "results", "age", "household_size", "v"], WHOLE),
    **dict.fromkeys(["personalization", "has_children"], FLAGS),
    **dict.fromkeys(["interests", "values", "needs"], LISTS),
    **dict.fromkeys(["device", "income_band", "currency", "country", "type"], CHOICES),
    "url": ["/", "/" + "a" * 2047, "/" + "a" * 2048, "", "/é", "/\x00", None],
    "query": ["boots", "b" * 256, "b" * 257, "", " ", "\ud7ff", None],
}
NESTED = ("context", "traits", "items")


@st.composite
def near_valid(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with a few fields, nested ones too, set to values near or over a bound."""
    event = money_text(message(draw(st.sampled_from(EVENT_TYPES))))
    for _ in range(draw(st.integers(0, 3))):
        target = event
        nested = draw(st.sampled_from([None, *NESTED]))
        if nested == "items" and event.get("items"):
            target = event["items"][0]
        elif nested is not None and isinstance(event.get(nested), dict):
            target = event[nested]
        names = sorted(BY_FIELD.keys() & target.keys())  # mostly a field the event has
        if not names or draw(st.booleans()):
            names = sorted(BY_FIELD)
        name = draw(st.sampled_from(names))
        if draw(st.integers(0, 9)) == 0:
            target.pop(name, None)
        else:
            target[name] = draw(st.sampled_from(BY_FIELD[name]))
    return event


@st.composite
def repeated_keys(draw: st.DrawFn) -> bytes:
    """A valid event with one of its fields written twice: the last one counts."""
    event = money_text(message(draw(st.sampled_from(EVENT_TYPES))))
    name = draw(st.sampled_from(sorted(BY_FIELD)))
    again = json.dumps({name: draw(st.sampled_from(BY_FIELD[name]))})[1:-1]
    return json.dumps(event)[:-1].encode() + b", " + again.encode() + b"}"


@FUZZ
@given(near_valid())
@example({**message("search"), "ts": "2026-01-15T10:00:00.1234567Z"})
@example({**message("purchase"), "total": "1000000000.0000"})
def test_events_near_every_bound_decode_the_same(event: dict[str, Any]) -> None:
    check_against_full(encoded(event))


@FUZZ
@given(repeated_keys())
def test_repeated_fields_decode_the_same(raw: bytes) -> None:
    check_against_full(raw)


@FUZZ
@given(raw_message())
def test_damaged_and_odd_events_decode_the_same(raw: bytes | None) -> None:
    if raw is not None:
        check_against_full(raw)


@FUZZ
@given(st.binary(max_size=600) | JSONISH.map(lambda value: encoded({"type": "search", "x": value})))
@example(b"[" * 100_000)
@example(b'{"a":' * 10_000)
@example(b'{"type":"forget","event_id":"e","customer_id":"c","ts":"2026-01-15T10:00:00Z"}x')
@example(b'{"type":"search","event_id":"e","customer_id":"c","ts":NaN,"query":"q"}')
@example(b'{"type":"search","event_id":"e","customer_id":"c","ts":Infinity,"query":"q"}')
def test_hostile_bytes_decode_the_same(raw: bytes) -> None:
    check_against_full(raw)


def test_the_near_bound_strategy_reaches_both_paths() -> None:
    """Guards the properties above against testing nothing: both outcomes are common."""
    taken: list[bool] = []

    @FUZZ
    @given(near_valid())
    def collect(event: dict[str, Any]) -> None:
        taken.append(check_against_full(encoded(event)))

    collect()
    assert 0.1 < sum(taken) / len(taken) < 0.9  # most candidate values are over a bound


def test_decode_event_gives_the_full_validations_answer_either_way() -> None:
    for raw in [json.dumps(message(kind)).encode() for kind in EVENT_TYPES] + [
        value for _, value, _, _ in MALFORMED if value is not None
    ]:
        try:
            expected: Event | str = FULL.validate_json(raw)
        except ValidationError as exc:
            expected = str(decode._rejection_from(exc))
        try:
            got: Event | str = decode.decode_event(raw, max_bytes=len(raw))
        except EventRejected as rejected:
            got = str(rejected.rejection)
        assert repr(got) == repr(expected)


# --- the derivation refuses a schema it does not know ----------------------------------------


class Priced(BaseModel):
    cost: Decimal


class Plain(BaseModel):
    name: str

    @model_validator(mode="after")
    def _has_identity(self) -> Plain:
        return self


def test_a_decimal_that_is_not_money_is_refused() -> None:
    with pytest.raises(SchemaDrift, match="not Money"):
        plain_decoder(TypeAdapter(Priced))


def test_a_schema_without_the_validators_checked_after_is_refused() -> None:
    with pytest.raises(SchemaDrift, match="_plausible_time"):
        plain_decoder(TypeAdapter(Plain))
