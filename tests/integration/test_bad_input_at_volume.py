"""10,000 malformed events of every kind mixed into 100,000 good ones, through a real worker.

Every malformed event reaches the dead-letter topic once, with the kind, field and reason of its
rejection in the headers; every good one is counted exactly (orders and spend per customer) and
Redis equals a recomputation of the rules.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from streams.app import DEAD_LETTER_HEADER_PREFIX
from streams.dependencies import redis_client
from streams.settings import Settings
from tests.integration.exactness import (
    Truth,
    assert_exact,
    cdnow_purchases,
)
from tests.integration.harness import (
    WorkerProcess,
    consume_all,
    produce,
    wait_drained,
)
from tests.streams.events.malformed_corpus import CUSTOMER, MALFORMED

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GOOD = 100_000
BAD = 10_000
OVERSIZED = 20  # 64 KiB each: a few are enough
KEY_MISMATCHES = 500
SEED = 8

Message = tuple[str | None, bytes | None]


def malformed_events(rng: random.Random) -> tuple[list[Message], Counter[str]]:
    """``BAD`` malformed messages drawn from the corpus (plus valid events under the wrong key),
    and how many of each rejection kind they must give."""
    oversized = [entry for entry in MALFORMED if entry[2] == "too_large"]
    others = [entry for entry in MALFORMED if entry[2] != "too_large"]
    chosen = oversized * (OVERSIZED // len(oversized))
    chosen += rng.choices(others, k=BAD - KEY_MISMATCHES - len(chosen))
    messages: list[Message] = [(CUSTOMER, raw) for _, raw, _, _ in chosen]
    kinds = Counter(kind for _, _, kind, _ in chosen)
    for n in range(KEY_MISMATCHES):
        event = {"type": "page_view", "event_id": f"mismatch-{n}", "customer_id": f"m{n}",
                 "ts": "2026-01-15T10:00:00Z", "url": "/"}  # fmt: skip
        key = None if n % 5 == 0 else f"not-m{n}"
        messages.append((key, json.dumps(event).encode()))
    kinds["key_mismatch"] += KEY_MISMATCHES
    return messages, kinds


@pytest.mark.usefixtures("cdnow")
def test_10k_malformed_events_among_100k_good_are_all_dead_lettered_and_the_good_exact(
    tiers: Settings, tmp_path: Path
) -> None:
    settings = tiers
    rng = random.Random(SEED)
    good = cdnow_purchases(GOOD)
    bad, expected_kinds = malformed_events(rng)
    messages: list[Message] = [(key.decode(), raw) for key, raw in good] + bad
    rng.shuffle(messages)
    assert sum(expected_kinds.values()) == BAD

    produce(settings, messages)  # before the worker starts: the two do not share the CPU
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    conn = redis_client(settings)
    try:
        worker.wait_ready()
        wait_drained(settings, timeout_s=600)

        dead = consume_all(settings.dead_letter_topic, settings, expected=BAD, timeout_s=120)
        assert len(dead) == BAD
        headers = [
            {k.removeprefix(DEAD_LETTER_HEADER_PREFIX): v.decode() for k, v in record.headers}
            for record in dead
        ]
        sources = {(h["source-partition"], h["source-offset"]) for h in headers}
        assert len(sources) == BAD  # each malformed message dead-lettered once
        assert Counter(h["kind"] for h in headers) == expected_kinds
        assert all(h["reason"].startswith(h["kind"]) for h in headers)
        assert all(h["source-topic"] == settings.events_topic for h in headers)
        by_value = {raw: (kind, field) for _, raw, kind, field in MALFORMED}
        for record, h in zip(dead, headers, strict=True):
            if h["kind"] != "key_mismatch":  # a corpus entry: its own kind and field
                assert (h["kind"], h["field"] or None) == by_value[record.value], h
        stats = worker.stats()
        assert stats is not None
        assert stats["dead_letters"] == dict(expected_kinds)

        assert_exact(settings, Truth.of(good), conn)
        assert "Traceback" not in worker.log()
    finally:
        worker.stop()
        conn.close()
