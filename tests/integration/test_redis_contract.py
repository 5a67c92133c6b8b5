"""The Redis contract read exactly as docs/redis-contract.md documents it, with plain redis-py: no
segstream code on the read side. Written by a real worker, or by the sink's writer where a test
needs a particular sequence of versions (stale writers, replays, expiry, trimming)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from streams.pipeline.batch import MembershipChange, PurchaseMade
from streams.settings import Settings
from streams.sink.feed import FEED_FIELDS
from streams.sink.redis_writer import RedisWriter, SinkLimits
from streams.topics import changes_topic
from tests.integration.harness import WorkerProcess, consume_all, produce, wait_until

pytestmark = pytest.mark.integration

DOC = (Path(__file__).resolve().parents[2] / "docs" / "redis-contract.md").read_text()
TS = "2026-01-15T10:00:00Z"


# --- the read side: only redis-py and the documented names ----------------------------------------


def documented_python_reader() -> str:
    match = re.search(r"```python\n(import json, redis\n.*?)```", DOC, re.S)
    assert match is not None, "docs/redis-contract.md shows how to read a customer in Python"
    return match.group(1)


def customer_key(prefix: str, customer: str) -> str:
    return f"{prefix}:customer:{{{customer}}}"


def segments(conn: redis.Redis, prefix: str, customer: str) -> dict[str, dict[str, Any]]:
    raw: Any = conn.hgetall(customer_key(prefix, customer))
    return {k.decode(): json.loads(v) for k, v in raw.items() if not k.startswith(b"_")}


def reserved(conn: redis.Redis, prefix: str, customer: str) -> dict[str, str]:
    raw: Any = conn.hgetall(customer_key(prefix, customer))
    return {k.decode(): v.decode() for k, v in raw.items() if k.startswith(b"_")}


def partitions(conn: redis.Redis, prefix: str) -> range:
    return range(int(conn.hget(f"{prefix}:layout", "partitions") or 0))


def feed(conn: redis.Redis, prefix: str) -> list[dict[str, str]]:
    """Every partition's stream, in version order (one customer is in one partition)."""
    found = []
    for n in partitions(conn, prefix):
        entries: Any = conn.xrange(f"{prefix}:{{p{n}}}:changes")
        found += [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]
    return sorted(found, key=lambda entry: int(entry["version"]))


def metrics(conn: redis.Redis, prefix: str, segment: str, variant: str) -> dict[str, int]:
    total: dict[str, int] = {}
    for n in partitions(conn, prefix):
        raw: Any = conn.hgetall(f"{prefix}:{{p{n}}}:metrics")
        for name, value in raw.items():
            seg, var, counter = name.decode().split(":")
            if (seg, var) == (segment, variant):
                total[counter] = total.get(counter, 0) + int(value)
    return total


def members(conn: redis.Redis, prefix: str, segment: str) -> set[bytes]:
    found: set[bytes] = set()
    for n in partitions(conn, prefix):
        found |= conn.smembers(f"{prefix}:{{p{n}}}:segment:{segment}:members")  # type: ignore[arg-type]
    return found


# --- the write side -------------------------------------------------------------------------------


def purchase(n: int, total: str, **ids: str) -> dict[str, Any]:
    body = {"type": "purchase", "event_id": f"p{n}", "ts": TS, "order_id": f"o{n}", "total": total}
    return {**body, **ids}


def event(kind: str, n: int, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": f"{kind}-{n}", "ts": TS, **fields}


def change(customer: str, segments: dict[str, str], before: Sequence[str] = (), **kw: Any) -> Any:
    """A membership change to ``segments`` (id -> variant) from ``before``."""
    return MembershipChange(
        customer_id=customer,
        segments=dict.fromkeys(segments, 1_790_000_000.0),
        variants=segments,
        entered=frozenset(segments.keys() - set(before)),
        exited=frozenset(set(before) - segments.keys()),
        profile_version=1,
        rules_version=kw.pop("rules_version", "r1"),
        reason=kw.pop("reason", "event"),
        **kw,
    )


class Writer:
    """The sink's writer, driven synchronously with explicit versions."""

    def __init__(self, settings: Settings, **limits: int) -> None:
        values = {"anonymous_ttl_s": 3600, "tombstone_ttl_s": 600, "changes_maxlen": 1000}
        values["partitions"] = 2
        values.update(limits)
        self.loop = asyncio.new_event_loop()
        self.client = aioredis.Redis.from_url(settings.redis_url)
        self.sink = RedisWriter(self.client, settings.redis_key_prefix, SinkLimits(**values))

    def write(
        self,
        version: int,
        changes: Sequence[MembershipChange] = (),
        purchases: Sequence[PurchaseMade] = (),
        refreshed: Sequence[str] = (),
        partition: int = 0,
    ) -> None:
        publish = self.sink.publish(
            changes, purchases, refreshed, partition=partition, version=version, now=1e9
        )
        self.loop.run_until_complete(publish)

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture
def writer(settings: Settings, redis_conn: redis.Redis) -> Iterator[Writer]:
    sink = Writer(settings)
    yield sink
    sink.close()


# --- through a real worker ------------------------------------------------------------------------


def test_a_front_end_reads_membership_exactly_as_documented(
    settings: Settings, worker: WorkerProcess, redis_conn: redis.Redis
) -> None:
    prefix = settings.redis_key_prefix
    produce(settings, [("alice", purchase(1, "150.00", customer_id="alice"))])
    found = wait_until(
        lambda: segments(redis_conn, prefix, "alice"), timeout_s=60, what="alice's segments"
    )
    assert found == {
        "big_spenders": {
            "since": pytest.approx(found["big_spenders"]["since"]),
            "variant": "treatment",
            "rules_version": "builtin-1",
            "model_version": "",
        }
    }
    assert isinstance(found["big_spenders"]["since"], float)
    meta_fields = reserved(redis_conn, prefix, "alice")
    assert set(meta_fields) == {"_version", "_updated_at"}
    assert int(meta_fields["_version"]) >= 0
    assert members(redis_conn, prefix, "big_spenders") == {b"alice"}
    assert metrics(redis_conn, prefix, "big_spenders", "treatment")["members"] == 1
    metas: Any = [redis_conn.hgetall(f"{prefix}:{{p{n}}}:meta") for n in partitions(redis_conn, prefix)]  # noqa: E501
    (meta,) = [meta for meta in metas if meta]
    assert meta[b"rules_version"] == b"builtin-1"
    assert float(meta[b"updated_at"]) > 0
    assert 'r.hgetall("segstream:v2:customer:{c0000177}")' in documented_python_reader()


def test_either_id_of_a_merged_customer_reads_its_segments_by_following_the_alias(
    settings: Settings, worker: WorkerProcess, redis_conn: redis.Redis
) -> None:
    prefix = settings.redis_key_prefix
    produce(settings, [("anon-1", purchase(1, "150.00", anonymous_id="anon-1"))])
    wait_until(lambda: segments(redis_conn, prefix, "anon-1"), timeout_s=60, what="anon member")
    visitor_ttl = redis_conn.ttl(customer_key(prefix, "anon-1"))
    assert 0 < visitor_ttl <= settings.redis_anonymous_ttl_s

    produce(
        settings, [("cust-1", event("identify", 2, customer_id="cust-1", anonymous_id="anon-1"))]
    )
    wait_until(lambda: segments(redis_conn, prefix, "cust-1"), timeout_s=60, what="merged member")
    wait_until(
        lambda: reserved(redis_conn, prefix, "anon-1").get("_alias_of") == "cust-1",
        timeout_s=60,
        what="the visitor to become an alias",
    )
    assert segments(redis_conn, prefix, "anon-1") == {}
    assert redis_conn.ttl(customer_key(prefix, "cust-1")) == -1  # identified: no expiry

    # A second device's visitor, in no segment before identifying, resolves all the same.
    produce(settings, [("anon-2", purchase(3, "1.00", anonymous_id="anon-2"))])
    produce(
        settings, [("cust-1", event("identify", 4, customer_id="cust-1", anonymous_id="anon-2"))]
    )
    wait_until(
        lambda: reserved(redis_conn, prefix, "anon-2").get("_alias_of") == "cust-1",
        timeout_s=60,
        what="the segment-less visitor to become an alias",
    )
    for asked in ("anon-1", "anon-2", "cust-1"):
        alias = reserved(redis_conn, prefix, asked).get("_alias_of", asked)
        assert alias == "cust-1"
        assert segments(redis_conn, prefix, alias)["big_spenders"]["variant"] == "treatment"
    assert redis_conn.hgetall(customer_key(prefix, "nobody")) == {}
    exits = [e for e in feed(redis_conn, prefix) if e["customer"] == "anon-1"]
    assert [(e["direction"], e["reason"]) for e in exits] == [("enter", "event"), ("exit", "merge")]


def test_change_feed_has_every_entry_and_exit_with_its_reason_in_redis_and_kafka(
    settings: Settings, worker: WorkerProcess, redis_conn: redis.Redis
) -> None:
    prefix = settings.redis_key_prefix
    steps: list[tuple[dict[str, Any], tuple[str, str, str]]] = [
        (purchase(1, "300.00", customer_id="erin"), ("big_spenders", "enter", "event")),
        (
            {
                **event("consent", 2, customer_id="erin", personalization=False),
                "ts": "2026-01-15T10:01:00Z",
            },
            ("big_spenders", "exit", "consent"),
        ),
        (
            {
                **event("consent", 3, customer_id="erin", personalization=True),
                "ts": "2026-01-15T10:02:00Z",
            },
            ("big_spenders", "enter", "consent"),
        ),
        (event("forget", 4, customer_id="erin"), ("big_spenders", "exit", "forget")),
    ]
    for n, (sent, _) in enumerate(steps, start=1):
        produce(settings, [("erin", sent)])
        wait_until(lambda n=n: len(feed(redis_conn, prefix)) >= n, timeout_s=60, what=f"step {n}")  # type: ignore[misc]
    entries = feed(redis_conn, prefix)
    assert [(e["segment"], e["direction"], e["reason"]) for e in entries] == [s for _, s in steps]
    assert all(tuple(e) == FEED_FIELDS and e["customer"] == "erin" for e in entries)
    versions = [int(e["version"]) for e in entries]
    assert versions == sorted(set(versions))  # every write newer than the last, forget included
    assert segments(redis_conn, prefix, "erin") == {}
    ledgers = [f"{prefix}:{{p{n}}}:ledger:erin" for n in partitions(redis_conn, prefix)]
    forgotten = [redis_conn.hgetall(key) for key in ledgers]
    assert [ledger for ledger in forgotten if ledger] == [{b"_version": str(versions[-1]).encode()}]

    records = consume_all(changes_topic(settings), settings, expected=len(steps))
    kafka = [json.loads(r.value) for r in records]
    assert [(m["segment"], m["direction"], m["reason"]) for m in kafka] == [s for _, s in steps]
    assert [r.key for r in records] == [b"erin"] * len(steps)
    assert [m["version"] for m in kafka] == versions
    assert all(tuple(m) == FEED_FIELDS for m in kafka)


# --- versions, replays, expiry and trimming, with the writer --------------------------------------


def test_a_stale_writer_cannot_overwrite_newer_state_and_a_replay_counts_nothing_twice(
    settings: Settings, writer: Writer, redis_conn: redis.Redis
) -> None:
    prefix = settings.redis_key_prefix
    writer.write(20, [change("c1", {"vip": "treatment"})])
    writer.write(21, purchases=[PurchaseMade("c1", "o1", 2500)])
    before = (feed(redis_conn, prefix), metrics(redis_conn, prefix, "vip", "treatment"))
    assert before[1] == {
        "members": 1,
        "reached": 1,
        "purchasers": 1,
        "orders": 1,
        "revenue_cents": 2500,
    }

    stale = Writer(settings)  # the worker that owned the partition before a rebalance
    try:
        stale.write(12, [change("c1", {"lapsing": "treatment"}, before=["vip"])])
        stale.write(13, purchases=[PurchaseMade("c1", "o0", 999)])
        assert (stale.sink.writes, stale.sink.stale) == (0, 2)
    finally:
        stale.close()
    writer.write(21, purchases=[PurchaseMade("c1", "o1", 2500)])  # the same batch, replayed
    writer.write(20, [change("c1", {"vip": "treatment"})])

    assert list(segments(redis_conn, prefix, "c1")) == ["vip"]
    assert reserved(redis_conn, prefix, "c1")["_version"] == "21"
    assert not members(redis_conn, prefix, "lapsing")
    assert (feed(redis_conn, prefix), metrics(redis_conn, prefix, "vip", "treatment")) == before


def test_after_a_forget_newer_writes_still_apply(
    settings: Settings, writer: Writer, redis_conn: redis.Redis
) -> None:
    prefix = settings.redis_key_prefix
    writer.write(5, [change("c1", {"vip": "control"})])
    writer.write(6, [change("c1", {}, before=["vip"], reason="forget", erased=True)])
    tombstone = customer_key(prefix, "c1")
    assert reserved(redis_conn, prefix, "c1") == {"_version": "6", "_updated_at": "1000000000.000"}
    assert 0 < redis_conn.ttl(tombstone) <= 600
    writer.write(4, [change("c1", {"vip": "control"})])  # a stale worker's pre-forget state
    assert segments(redis_conn, prefix, "c1") == {}
    writer.write(9, [change("c1", {"vip": "control"})])  # the customer comes back
    assert list(segments(redis_conn, prefix, "c1")) == ["vip"]
    assert redis_conn.ttl(tombstone) == -1
    assert metrics(redis_conn, prefix, "vip", "control")["members"] == 1


def test_anonymous_visitors_expire_and_activity_renews_them(
    settings: Settings, redis_conn: redis.Redis
) -> None:
    prefix = settings.redis_key_prefix
    short = Writer(settings, anonymous_ttl_s=1)
    long = Writer(settings, anonymous_ttl_s=3600)
    try:
        short.write(1, [change("v1", {"vip": "treatment"}, anonymous=True)])
        short.write(1, [change("v2", {"vip": "treatment"}, anonymous=True)])
        short.write(1, [change("c1", {"vip": "treatment"})])
        assert redis_conn.ttl(customer_key(prefix, "v1")) in (0, 1)
        assert redis_conn.ttl(customer_key(prefix, "c1")) == -1
        long.write(2, refreshed=["v2"])  # v2 is still browsing
        wait_until(
            lambda: not redis_conn.exists(customer_key(prefix, "v1")),
            timeout_s=30,
            what="the idle visitor to expire",
        )
        assert not redis_conn.exists(f"{prefix}:{{p0}}:ledger:v1")
        assert redis_conn.ttl(customer_key(prefix, "v2")) > 1
        assert redis_conn.ttl(f"{prefix}:{{p0}}:ledger:v2") > 1
        assert list(segments(redis_conn, prefix, "c1")) == ["vip"]
    finally:
        short.close()
        long.close()


def test_the_change_feed_is_bounded(settings: Settings, redis_conn: redis.Redis) -> None:
    prefix = settings.redis_key_prefix
    sink = Writer(settings, changes_maxlen=100)
    try:
        customers = [f"c{i}" for i in range(300)]
        sink.write(1, [change(c, {"vip": "treatment"}) for c in customers])
        sink.write(2, [change(c, {}, before=["vip"]) for c in customers])
    finally:
        sink.close()
    length = redis_conn.xlen(f"{prefix}:{{p0}}:changes")
    # Approximate trimming drops whole stream nodes (100 entries each): 600 written, 100-199 kept.
    assert 100 <= length < 200
    last: Any = redis_conn.xrevrange(f"{prefix}:{{p0}}:changes", count=1)
    assert last[0][1][b"customer"] == b"c299"
    assert last[0][1][b"direction"] == b"exit"


# --- layout v2: per-partition aggregates and their ledgers -----------------------------------


def test_aggregates_are_per_partition_and_sum_to_the_whole(
    settings: Settings, writer: Writer, redis_conn: redis.Redis
) -> None:
    prefix = settings.redis_key_prefix
    writer.write(1, [change("a", {"vip": "treatment"})], partition=0)
    writer.write(1, [change("b", {"vip": "control"})], partition=1)
    writer.write(2, [change("c", {"vip": "treatment"})], partition=1)
    assert list(partitions(redis_conn, prefix)) == [0, 1]
    assert members(redis_conn, prefix, "vip") == {b"a", b"b", b"c"}
    assert redis_conn.smembers(f"{prefix}:{{p1}}:segment:vip:members") == {b"b", b"c"}
    assert metrics(redis_conn, prefix, "vip", "treatment")["members"] == 2
    assert metrics(redis_conn, prefix, "vip", "control")["members"] == 1


def test_a_lost_customer_hash_does_not_make_the_counters_count_twice(
    settings: Settings, writer: Writer, redis_conn: redis.Redis
) -> None:
    """A failover can lose one slot's writes and keep another's: the counters follow the ledger
    in their own slot, not the customer's hash."""
    prefix = settings.redis_key_prefix
    writer.write(1, [change("c1", {"vip": "treatment"})])
    redis_conn.delete(customer_key(prefix, "c1"))  # the customer's slot lost it
    writer.write(2, [change("c1", {"vip": "treatment"}, reason="resync")])
    writer.write(3, [change("c1", {}, before=["vip"])])
    assert metrics(redis_conn, prefix, "vip", "treatment") == {"members": 0, "reached": 1}
    assert [(e["direction"], e["version"]) for e in feed(redis_conn, prefix)] == [
        ("enter", "1"),
        ("exit", "3"),
    ]
    assert reserved(redis_conn, prefix, "c1")["_version"] == "3"


def test_a_writer_that_never_published_a_segment_still_takes_its_members_out(
    settings: Settings, writer: Writer, redis_conn: redis.Redis
) -> None:
    """A restarted worker has not published the segments its ledgers hold: the partition script
    asks for their member sets, and the exit is counted."""
    prefix = settings.redis_key_prefix
    writer.write(1, [change("c1", {"retired": "treatment"})])
    restarted = Writer(settings)
    try:
        restarted.write(2, [change("c1", {"vip": "treatment"}, before=["retired"])])
        assert (restarted.sink.writes, restarted.sink.stale) == (1, 0)
    finally:
        restarted.close()
    assert members(redis_conn, prefix, "retired") == set()
    assert members(redis_conn, prefix, "vip") == {b"c1"}
    assert metrics(redis_conn, prefix, "retired", "treatment")["members"] == 0
