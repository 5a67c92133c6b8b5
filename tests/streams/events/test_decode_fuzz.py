"""Property-based fuzzing of the event decoder and of the pure pipeline behind it.

Whatever bytes arrive, ``decode_event`` returns an event or raises EventRejected with a known
kind and a message; nothing else, and no hang (pytest-timeout stops a test that hangs). Whatever
it accepts, the per-batch computation applies without raising, and every record of a batch is
accounted for: applied, a duplicate, or a dead letter.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rules.loader import load_rules, rule_files
from streams.events import EVENT_TYPES, EventRejected, decode_event
from streams.events.schemas import Event
from streams.pipeline.batch import BatchProcessor, InputRecord
from streams.pipeline.cache import ProfileCache
from streams.pipeline.identity import IDENTITY_SOURCE
from tests.rules.test_loader import EXAMPLES
from tests.streams.events.malformed_corpus import MALFORMED, MAX_EVENT_BYTES
from tests.streams.events.test_decode import MODELS, message
from tests.streams.pipeline.test_batch import NOW, DictStore

pytestmark = pytest.mark.timeout(300)

FUZZ = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)  # deadline=None: CPU is shared, a slow example is not a failure; a hang hits the timeout
KINDS = {"too_large", "bad_json", "unknown_type", "invalid"}
NESTED = ("context", "traits", "items")
FIELD_NAMES = sorted(
    {name for model in MODELS.values() for name in model.model_fields}
    | {"sku", "category", "unit_price", "quantity", "discount", "device", "channel", "country"}
    | {"age", "income_band", "interests", "has_children", "household_size"}
)
EDGE_VALUES: st.SearchStrategy[Any] = st.sampled_from(
    [
        None, True, 0, -1, 1.5, 2e10, 1_736_935_200_000, 10**30, float("nan"), float("inf"),
        "", " ", "x" * 129, "x" * 2049, "0", "-0.01", "1e9", "1000000000.0001", "NaN", "é",
        "\ud800", "\x00", "a b", "USD", "DE", "mobile", "2026-01-15T10:00:00Z",
        "2026-01-15T10:00:00+14:00", "1990-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "refund",
        [], {}, [{}], [{"sku": "a", "category": "b", "unit_price": "1"}], {"age": 30},
    ]
)  # fmt: skip
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


def decode_or_reject(raw: bytes | None) -> Event | None:
    try:
        return decode_event(raw, max_bytes=MAX_EVENT_BYTES)
    except EventRejected as rejected:
        rejection = rejected.rejection
    assert rejection.kind in KINDS
    assert rejection.message
    assert str(rejection).startswith(rejection.kind)
    return None


def first_item(event: dict[str, Any]) -> dict[str, Any] | None:
    """The first purchase item, if ``items`` (perhaps mutated already) still has one."""
    items = event.get("items")
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return items[0]
    return None


@st.composite
def mutated_event(draw: st.DrawFn) -> dict[str, Any]:
    """A realistic event of any type with a few fields (nested ones too) set to odd values or
    dropped."""
    event = copy.deepcopy(message(draw(st.sampled_from(EVENT_TYPES))))
    for _ in range(draw(st.integers(0, 4))):
        target = event
        nested = draw(st.sampled_from((None, *NESTED)))
        item = first_item(event) if nested == "items" else None
        if nested is not None and isinstance(event.get(nested), dict):
            target = event[nested]
        elif item is not None:
            target = item
        key = draw(st.sampled_from(FIELD_NAMES) | st.text(max_size=4))
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            # A copy: EDGE_VALUES' lists and dicts are shared by every draw, and a later mutation
            # of a nested field would change them (one grew to contain itself).
            target[key] = copy.deepcopy(draw(EDGE_VALUES | JSONISH))
    return event


def encoded(event: dict[str, Any]) -> bytes:
    return json.dumps(event, allow_nan=True).encode("utf-8", errors="surrogatepass")


@st.composite
def raw_message(draw: st.DrawFn) -> bytes | None:
    """Bytes a producer might send: a mutated event, maybe cut short or with a byte changed."""
    raw = encoded(draw(mutated_event()))
    damage = draw(st.sampled_from(["none", "none", "cut", "flip"]))
    if damage == "cut":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif damage == "flip" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    return raw


@FUZZ
@given(st.none() | st.binary(max_size=2000))
@example(b"[" * 100_000)
@example(b'{"a":' * 10_000)
@example(b"\xef\xbb\xbf{}")
@example(b'{"type": "purchase"' + b', "x": 1' * 5000 + b"}")
@example(b"1" * (MAX_EVENT_BYTES + 1))
def test_any_bytes_decode_or_are_rejected_with_a_known_kind(raw: bytes | None) -> None:
    decode_or_reject(raw)


@FUZZ
@given(JSONISH)
def test_any_json_value_decodes_or_is_rejected_with_a_known_kind(value: Any) -> None:
    decode_or_reject(json.dumps(value, allow_nan=True).encode())


@FUZZ
@given(raw_message())
def test_realistic_events_with_odd_fields_decode_or_are_rejected(raw: bytes | None) -> None:
    event = decode_or_reject(raw)
    if event is not None:
        assert event.type in EVENT_TYPES
        assert event.subject_id


def test_the_mutation_strategy_produces_accepted_and_rejected_events() -> None:
    """Guards the properties here against testing nothing: both outcomes are common."""
    accepted: list[bool] = []

    @settings(max_examples=300, deadline=None, database=None)
    @given(raw_message())
    def collect(raw: bytes | None) -> None:
        accepted.append(decode_or_reject(raw) is not None)

    collect()
    assert 0.1 < sum(accepted) / len(accepted) < 0.9


DEMO_RULES = load_rules(rule_files(EXAMPLES))


def subject_of(raw: bytes | None) -> bytes | None:
    """The key a shop would use: the event's customer (or visitor) id, if it has one."""
    try:
        event = json.loads(raw or b"")
        subject = event.get("customer_id") or event.get("anonymous_id")
    except (ValueError, AttributeError):
        return b"gina"
    return subject.encode("utf-8", errors="surrogatepass") if isinstance(subject, str) else None


@FUZZ
@given(
    st.lists(
        raw_message() | st.sampled_from([raw for _, raw, _, _ in MALFORMED]),
        min_size=1,
        max_size=12,
    ),
)
def test_a_batch_of_odd_messages_is_processed_and_every_record_accounted_for(
    raws: list[bytes | None],
) -> None:
    store = DictStore()
    pipeline = BatchProcessor(
        store=store,
        rules=lambda: DEMO_RULES,
        max_event_bytes=MAX_EVENT_BYTES,
        cache=ProfileCache(4),
    )
    records = [
        InputRecord(subject_of(raw), raw, "events", 0, offset, None)
        for offset, raw in enumerate(raws)
    ]
    outcome = pipeline.process(records, NOW)
    assert outcome.applied + outcome.duplicates + len(outcome.dead_letters) == len(records)
    for dead in outcome.dead_letters:
        assert dead.rejection.kind in KINDS | {"key_mismatch"}
        assert dead.rejection.message
    # The same records again (a redelivery) count nothing twice: unless a forget reset a profile,
    # each applied event is now a duplicate.
    again = pipeline.process(records, NOW + 1)
    if not any(b"forget" in (record.value or b"") for record in records):
        assert again.applied == 0
        assert again.duplicates == outcome.applied + outcome.duplicates
    assert len(again.dead_letters) == len(outcome.dead_letters)
    # What the batch sends on (merge requests, forwards) is processed in turn without raising.
    identity = [
        InputRecord(m.subject.encode(), m.encode(), IDENTITY_SOURCE, 0, n, None)
        for n, m in enumerate(outcome.outbox)
    ]
    pipeline.process(identity, NOW + 2)
