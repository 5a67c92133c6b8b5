"""Malformed events of every kind land in the dead-letter topic with a reason; good ones count."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from streams.app import DEAD_LETTER_HEADER_PREFIX
from streams.ops.scrape import Scrape, fetch
from streams.pipeline.dead_letters import dead_letter_partition
from streams.profile import decode_profile
from streams.settings import Settings
from tests.integration.harness import (
    WorkerProcess,
    consume_all,
    dead_letters_by_source,
    produce,
    read_table,
    read_topic,
    rewind_everything,
    wait_drained,
    wait_until,
)

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


def dead_letter_metric(worker: WorkerProcess) -> float:
    status, body = fetch(f"{worker.settings.web_url}/metrics")
    assert status == 200
    return sum(Scrape(body.decode()).labelled("segstream_dead_letters_total", "reason").values())


def good_and_malformed() -> list[tuple[str | None, Any]]:
    """Each malformed event of the corpus after a good purchase of gina's."""
    messages: list[tuple[str | None, Any]] = []
    for n, (_, key, raw, _) in enumerate(MALFORMED):
        messages += [("gina", good(n)), (key, raw)]
    return messages


def test_a_replay_of_every_message_sends_and_counts_no_dead_letter_again(
    settings: Settings, tmp_path: Path
) -> None:
    messages = good_and_malformed()
    produce(settings, messages)
    good_events = len(messages) - len(MALFORMED)

    first = WorkerProcess(settings, tmp_path / "first.log").start()
    try:
        wait_until(
            lambda: (
                (stats := first.stats()) and sum(stats["dead_letters"].values()) == len(MALFORMED)
            ),
            timeout_s=90,
            what="every malformed event dead-lettered",
        )
        wait_drained(settings, timeout_s=60)
        assert dead_letter_metric(first) == len(MALFORMED)
    finally:
        first.stop()
    rewind_everything(settings)

    second = WorkerProcess(settings, tmp_path / "second.log").start()
    try:
        stats = wait_until(
            lambda: (stats := second.stats()) and stats["duplicates"] >= good_events and stats,
            timeout_s=90,
            what="every event sent again and dropped as a repeat",
        )
        wait_drained(settings, timeout_s=60)
        assert stats["dead_letters"] == {}
        assert dead_letter_metric(second) == 0
    finally:
        second.stop()  # its producer sends whatever it still held
    sources = dead_letters_by_source(settings)
    assert len(sources) == len(MALFORMED)
    assert set(sources.values()) == {1}, [s for s, n in sources.items() if n > 1]


def test_dead_letters_a_crash_sent_before_its_changelog_are_not_sent_again(
    settings: Settings, tmp_path: Path
) -> None:
    messages = good_and_malformed()
    produce(settings, messages)
    # A worker killed after its dead letters reached Kafka but before its changelog marked them:
    # it sent the first of them, in each source partition's order, and the next owner finds
    # them in the dead-letter topic.
    goods = {json.dumps(value).encode() for _, value in messages if isinstance(value, dict)}
    bad = [r for r in read_topic(settings, settings.events_topic) if r.value not in goods]
    assert len(bad) == len(MALFORMED)
    by_partition: dict[int, list[Any]] = {}
    for record in sorted(bad, key=lambda r: (r.partition, r.offset)):
        by_partition.setdefault(record.partition, []).append(record)
    crashed = [r for records in by_partition.values() for r in records[: len(records) // 2 + 1]]
    producer = KafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all")
    try:
        for record in crashed:
            headers = {"kind": "bad_json", "source-topic": settings.events_topic,
                       "source-partition": str(record.partition),
                       "source-offset": str(record.offset)}  # fmt: skip
            producer.send(
                settings.dead_letter_topic,
                value=record.value,
                key=record.key,
                headers=[(DEAD_LETTER_HEADER_PREFIX + k, v.encode()) for k, v in headers.items()],
                partition=dead_letter_partition(record.partition, settings.topic_partitions),
            )
        producer.flush(30)
    finally:
        producer.close()

    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        wait_until(
            lambda: (stats := worker.stats()) and stats["applied"] == len(MALFORMED),
            timeout_s=90,
            what="every good event applied",
        )
        wait_drained(settings, timeout_s=60)
    finally:
        worker.stop()  # its producer sends whatever it still held
    sources = dead_letters_by_source(settings)
    assert len(sources) == len(MALFORMED)
    assert set(sources.values()) == {1}, [s for s, n in sources.items() if n > 1]
