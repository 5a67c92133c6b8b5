"""Malformed events of every kind land in the dead-letter topic with a reason; good ones count."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streams.app import DEAD_LETTER_HEADER_PREFIX
from streams.profile import decode_profile
from streams.settings import Settings
from tests.integration.harness import WorkerProcess, consume_all, produce, read_table, wait_until

pytestmark = pytest.mark.integration

TS = "2026-01-15T10:00:00Z"


def good(n: int) -> dict[str, Any]:
    return {"type": "purchase", "event_id": f"good-{n}", "customer_id": "gina", "ts": TS,
            "order_id": f"o-{n}", "total": "10.00"}  # fmt: skip


def bad(**changes: Any) -> bytes:
    event = {"type": "purchase", "event_id": "bad", "customer_id": "gina", "ts": TS,
             "order_id": "o-bad", "total": "10.00"}  # fmt: skip
    for field, value in changes.items():
        if value is None:
            event.pop(field, None)
        else:
            event[field] = value
    return json.dumps(event).encode()


# (name, key, raw bytes, expected kind)
MALFORMED: list[tuple[str, str | None, bytes, str]] = [
    ("not json", "gina", b"{nope", "bad_json"),
    ("truncated json", "gina", bad()[:-5], "bad_json"),
    ("json array", "gina", b"[1, 2]", "bad_json"),
    ("json string", "gina", b'"purchase"', "bad_json"),
    ("empty bytes", "gina", b"", "bad_json"),
    ("not utf-8", "gina", b"\xff\xfe\x00garbage", "bad_json"),
    ("unknown type", "gina", bad(type="refund"), "unknown_type"),
    ("missing type", "gina", bad(type=None), "invalid"),
    ("missing event id", "gina", bad(event_id=None), "invalid"),
    ("no customer or visitor", "gina", bad(customer_id=None), "invalid"),
    ("negative total", "gina", bad(total="-5.00"), "invalid"),
    ("total as text", "gina", bad(total="ten"), "invalid"),
    (
        "NaN total",
        "gina",
        b'{"type":"purchase","event_id":"x","customer_id":"gina","ts":"'
        + TS.encode()
        + b'","order_id":"o","total":NaN}',
        "invalid",
    ),
    ("year 1970", "gina", bad(ts="1970-01-01T00:00:00Z"), "invalid"),
    ("year 5138 in milliseconds", "gina", bad(ts=99_999_999_999_999), "invalid"),
    ("far future", "gina", bad(ts="2999-01-01T00:00:00Z"), "invalid"),
    ("no time zone", "gina", bad(ts="2026-01-15T10:00:00"), "invalid"),
    ("id with spaces", "gina", bad(order_id="o 1"), "invalid"),
    ("overlong id", "gina", bad(event_id="e" * 500), "invalid"),
    ("unknown field", "gina", bad(shipping="express"), "invalid"),
    (
        "zero quantity",
        "gina",
        bad(items=[{"sku": "a", "category": "x", "unit_price": "1", "quantity": 0}]),
        "invalid",
    ),
    ("bad currency", "gina", bad(currency="dollars"), "invalid"),
    ("bad country", "gina", bad(context={"country": "Germany"}), "invalid"),
    ("identify without visitor", "gina", bad(type="identify"), "invalid"),
    ("oversized", "gina", bad(coupon="x" * 70_000), "too_large"),
    ("key differs from customer", "someone-else", bad(), "key_mismatch"),
    ("no key", None, bad(), "key_mismatch"),
]


def test_every_malformed_event_is_dead_lettered_and_good_ones_are_exact(
    settings: Settings, worker: WorkerProcess
) -> None:
    messages: list[tuple[str | None, Any]] = []
    for n, (_, key, raw, _) in enumerate(MALFORMED):
        messages += [("gina", good(n)), (key, raw)]
    messages.append(("gina", good(len(MALFORMED))))
    produce(settings, messages)

    dead = consume_all(settings.dead_letter_topic, settings, expected=len(MALFORMED), timeout_s=90)
    assert len(dead) == len(MALFORMED)
    by_value = {record.value: record for record in dead}
    for name, _, raw, kind in MALFORMED:
        record = by_value.get(raw)
        assert record is not None, f"{name}: not dead-lettered"
        headers = {k.removeprefix(DEAD_LETTER_HEADER_PREFIX): v.decode() for k, v in record.headers}
        assert headers["kind"] == kind, f"{name}: {headers}"
        assert headers["reason"], name
        assert headers["source-topic"] == settings.events_topic
        assert int(headers["source-offset"]) >= 0

    def gina() -> Any:
        profile = read_table(settings).get(b"gina")
        return profile and decode_profile(profile)

    profile = wait_until(
        lambda: (p := gina()) and p.orders == len(MALFORMED) + 1 and p,
        timeout_s=60,
        what="every good event around the bad ones to be applied",
    )
    assert profile.spend_cents == 1000 * (len(MALFORMED) + 1)
    assert worker.log().count("Traceback") == 0
