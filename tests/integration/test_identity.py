"""Identity merge, forwarding and erasure across partitions, through real Kafka and Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from streams.profile import decode_profile
from streams.settings import Settings
from streams.sink.aggregates import read_members
from streams.sink.redis_keys import customer_key
from tests.integration.harness import (
    WorkerProcess,
    produce,
    read_table,
    rewind_everything,
    segment_fields,
    wait_drained,
    wait_until,
)

pytestmark = pytest.mark.integration

TS = "2026-01-15T10:00:00Z"


def event(kind: str, n: int, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": f"{kind}-{n}", "ts": TS, **fields}


def purchase(n: int, total: str, **ids: str) -> dict[str, Any]:
    return event("purchase", n, order_id=f"o{n}", total=total, **ids)


def profiles(settings: Settings) -> dict[str, Any]:
    return {k.decode(): decode_profile(v) for k, v in read_table(settings).items()}


def test_identify_merges_the_visitor_and_forwards_its_later_events(
    settings: Settings, worker: WorkerProcess, redis_conn: redis.Redis
) -> None:
    prefix = settings.redis_key_prefix
    # Visitors whose ids hash to other partitions than the customer's (4 partitions, 6 visitors).
    visitors = [f"anon-{i}" for i in range(6)]
    produce(settings, [(v, purchase(i, "120.00", anonymous_id=v)) for i, v in enumerate(visitors)])
    for visitor in visitors:
        wait_until(
            lambda v=visitor: redis_conn.hgetall(customer_key(prefix, v)),  # type: ignore[misc]
            timeout_s=60,
            what=f"{visitor} to be a big spender",
        )
    identifies = [
        (f"cust-{i}", event("identify", i, customer_id=f"cust-{i}", anonymous_id=v))
        for i, v in enumerate(visitors)
    ]
    produce(settings, identifies)
    for i, visitor in enumerate(visitors):
        wait_until(
            lambda c=f"cust-{i}": redis_conn.hgetall(customer_key(prefix, c)),  # type: ignore[misc]
            timeout_s=60,
            what=f"cust-{i} to inherit the visitor's membership",
        )
        # The visitor's hash is now an alias of the customer, with no segments of its own.
        alias = redis_conn.hgetall(customer_key(prefix, visitor))
        assert alias[b"_alias_of"] == f"cust-{i}".encode()
        assert segment_fields(redis_conn, customer_key(prefix, visitor)) == {}

    # Later events naming only the visitor reach the customer.
    produce(
        settings, [(v, purchase(100 + i, "5.00", anonymous_id=v)) for i, v in enumerate(visitors)]
    )

    def merged() -> dict[str, Any] | None:
        table = profiles(settings)
        done = all(table.get(f"cust-{i}") and table[f"cust-{i}"].orders == 2 for i in range(6))
        return table if done else None

    table = wait_until(merged, timeout_s=60, what="forwarded purchases to reach the customers")
    for i, visitor in enumerate(visitors):
        customer = table[f"cust-{i}"]
        assert (customer.orders, customer.spend_cents) == (2, 12_500)
        assert customer.aliases == [visitor]
        assert table[visitor].merged_into == f"cust-{i}"
    # The merges and forwards travelled as this worker's own envelopes, which its agent leaves to
    # the rebatcher (applied with the next envelope of events, or at the end of its next pass).
    stats = worker.stats()
    assert stats is not None
    assert stats["own_envelopes_left_to_rebatcher"] >= 1
    members = read_members(redis_conn, prefix, settings.topic_partitions, "big_spenders")
    assert members == {f"cust-{i}" for i in range(6)}


def test_forget_erases_profile_aliases_and_redis_entries(
    settings: Settings, worker: WorkerProcess, redis_conn: redis.Redis
) -> None:
    prefix = settings.redis_key_prefix
    produce(
        settings,
        [
            ("anon-x", purchase(1, "80.00", anonymous_id="anon-x")),
            ("dana", event("identify", 2, customer_id="dana", anonymous_id="anon-x")),
            ("dana", purchase(3, "50.00", customer_id="dana")),
        ],
    )
    wait_until(
        lambda: segment_fields(redis_conn, customer_key(prefix, "dana")),
        timeout_s=60,
        what="dana member",
    )
    wait_until(
        lambda: (
            profiles(settings).get("dana") is not None and profiles(settings)["dana"].orders == 2
        ),
        timeout_s=60,
        what="merge to complete",
    )

    produce(settings, [("dana", event("forget", 4, customer_id="dana"))])
    wait_until(
        lambda: not segment_fields(redis_conn, customer_key(prefix, "dana")),
        timeout_s=60,
        what="dana's segments to be removed",
    )
    # Only a version tombstone is left, and it expires (docs/redis-contract.md).
    assert redis_conn.ttl(customer_key(prefix, "dana")) > 0
    assert read_members(redis_conn, prefix, settings.topic_partitions, "big_spenders") == set()
    wait_until(
        lambda: not ({"dana", "anon-x"} & set(profiles(settings))),
        timeout_s=60,
        what="the profile and its alias to be erased from the table",
    )


def test_consent_off_removes_segments_and_on_restores_them(
    settings: Settings, worker: WorkerProcess, redis_conn: redis.Redis
) -> None:
    key = customer_key(settings.redis_key_prefix, "erin")
    produce(settings, [("erin", purchase(1, "300.00", customer_id="erin"))])
    wait_until(lambda: segment_fields(redis_conn, key), timeout_s=60, what="erin member")
    # The later decision wins; a tie in event time would opt out (see Profile.set_consent).
    opt_out = event("consent", 2, customer_id="erin", personalization=False)
    produce(settings, [("erin", {**opt_out, "ts": "2026-01-15T10:01:00Z"})])
    wait_until(lambda: not segment_fields(redis_conn, key), timeout_s=60, what="segments withdrawn")
    opt_in = event("consent", 3, customer_id="erin", personalization=True)
    produce(settings, [("erin", {**opt_in, "ts": "2026-01-15T10:02:00Z"})])
    wait_until(lambda: segment_fields(redis_conn, key), timeout_s=60, what="segments restored")


MANY = 300  # more of one visitor's events than the 256 event ids a profile remembers


@pytest.mark.usefixtures("redis_conn")  # deletes the worker's Redis keys afterwards
def test_a_replay_of_many_visitor_events_around_its_merge_counts_each_once(
    settings: Settings, tmp_path: Path
) -> None:
    visitor, customer = "anon-many", "cust-many"
    before = [(visitor, purchase(n, "1.00", anonymous_id=visitor)) for n in range(MANY)]
    after = [(visitor, purchase(MANY + n, "1.00", anonymous_id=visitor)) for n in range(MANY)]
    identify = (customer, event("identify", 0, customer_id=customer, anonymous_id=visitor))

    def orders(wanted: int) -> bool:
        profile = profiles(settings).get(customer)
        return profile is not None and profile.orders == wanted

    first = WorkerProcess(settings, tmp_path / "first.log").start()
    try:
        produce(settings, before)
        wait_until(
            lambda: (p := profiles(settings).get(visitor)) and p.orders == MANY,
            timeout_s=90,
            what="the visitor's purchases",
        )
        produce(settings, [identify])
        wait_until(lambda: orders(MANY), timeout_s=90, what="the merge")
        produce(settings, after)  # forwarded to the customer
        wait_until(lambda: orders(2 * MANY), timeout_s=90, what="the forwarded purchases")
        wait_drained(settings, timeout_s=60)
    finally:
        first.stop()
    rewind_everything(settings)

    second = WorkerProcess(settings, tmp_path / "second.log").start()
    try:
        second.wait_ready()
        wait_drained(settings, timeout_s=120)
    finally:
        second.stop()  # its last envelopes' changelog written
    merged = profiles(settings)[customer]
    assert (merged.orders, merged.spend_cents) == (2 * MANY, 2 * MANY * 100)
