"""Resync on a real worker: Redis loses its data, the worker rebuilds it from the profiles.

Most tests replay a fixed CDNOW history, wait until it is applied and Redis is exact, then make
Redis lose its data: a "flush" of the test's own key prefix (every key under it deleted: the
shared Redis serves other tests, so no FLUSHALL), or a private Redis restarted without
persistence. A reader polls the front-end read (``SegmentClient``) throughout: since no event
flows any more, every read must be either empty (not rewritten yet) or the final truth, never a
segment the customer is not in. Afterwards Redis equals a recomputation from the profiles again.
One test flushes halfway through the replay instead: the resync and the envelopes still to come
interleave in each partition's order, and the end is exact.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from bench.workload import send
from rules.loader import load_rules, rule_files
from streams.client.segments import SegmentClient
from streams.dependencies import ensure_topics, redis_client
from streams.schedule.resync import DONE, Marker
from streams.settings import Settings
from streams.sink.aggregates import read_members
from streams.sink.redis_keys import customer_key, partition_epoch_key
from streams.stack.processes import port_in_use
from streams.topics import key_partition
from tests.integration.exactness import (
    Truth,
    assert_exact,
    cdnow_purchases,
    delete_keys,
    expected_membership,
    final_profiles,
    tier_settings,
)
from tests.integration.harness import PrivateRedis, WorkerProcess, wait_drained, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EVENTS = 20_000
READ_SAMPLE = 400  # customers the reader polls, half of them in some segment


# Every key under a prefix deleted in one step, as a FLUSHALL is: keys deleted chunk by chunk
# while a worker writes would leave a customer's hash rewritten after the flush began but its
# segment's member set deleted later, a state no real loss produces (a script's writes are lost or
# kept together).
FLUSH_PREFIX = """
local keys = redis.call('KEYS', ARGV[1])
for i = 1, #keys, 5000 do
  redis.call('UNLINK', unpack(keys, i, math.min(i + 4999, #keys)))
end
return #keys
"""


def flush(conn: redis.Redis, prefix: str) -> None:
    """Delete every key under ``prefix`` at once, as a FLUSHALL would (the shared Redis serves
    other tests, so not a FLUSHALL itself)."""
    conn.eval(FLUSH_PREFIX, 0, f"{prefix}:*")


def markers_done(conn: redis.Redis, settings: Settings) -> bool:
    keys = [partition_epoch_key(settings.redis_key_prefix, p) for p in range(4)]
    markers = [Marker.decode(raw) for raw in conn.mget(keys)]
    return all(m is not None and m.state == DONE for m in markers)


def wait_resynced(conn: redis.Redis, settings: Settings, timeout_s: float = 300) -> None:
    wait_until(lambda: markers_done(conn, settings), timeout_s=timeout_s, what="every marker done")


class Reader(threading.Thread):
    """Reads customers as a front end does, over and over, and keeps every read that shows a
    membership other than none or the final one."""

    def __init__(self, url: str, prefix: str, truth: dict[str, dict[str, str]]) -> None:
        super().__init__(daemon=True)
        self.truth = truth
        self.client = SegmentClient(redis.Redis.from_url(url, socket_timeout=5), prefix)
        self.stop = threading.Event()
        self.reads = self.empty = self.unreachable = 0
        self.wrong: list[str] = []

    def run(self) -> None:
        customers = list(self.truth)
        while not self.stop.is_set():
            for customer in customers:
                self._read(customer)

    def _read(self, customer: str) -> None:
        try:
            found = self.client.segments(customer)
        except (redis.RedisError, OSError):
            self.unreachable += 1  # Redis restarting
            return
        self.reads += 1
        seen = {segment: m.variant for segment, m in found.segments.items()}
        if not seen:
            self.empty += 1
        elif seen != self.truth[customer]:
            self.wrong.append(f"{customer}: read {seen}, is in {self.truth[customer]}")

    def finish(self) -> None:
        self.stop.set()
        self.join(30)
        print(f"reader: {self.reads} reads, {self.empty} empty, {len(self.wrong)} wrong, "
              f"{self.unreachable} while Redis was unreachable")  # fmt: skip


def sample(truth: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    rng = random.Random(18)
    members = sorted(c for c, segments in truth.items() if segments)
    others = sorted(c for c, segments in truth.items() if not segments)
    half = READ_SAMPLE // 2
    chosen = rng.sample(members, min(half, len(members)))
    chosen += rng.sample(others, min(half, len(others)))
    return {c: truth[c] for c in chosen}


@contextmanager
def replaying(settings: Settings, tmp_path: Path) -> Iterator[tuple[WorkerProcess, redis.Redis]]:
    """A worker that has applied the history and made Redis exact; stopped on the way out."""
    events = cdnow_purchases(EVENTS)
    ensure_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    conn = redis_client(settings)
    try:
        worker.wait_ready()
        send(settings, settings.events_topic, events)
        wait_drained(settings, timeout_s=300)
        wait_resynced(conn, settings)  # a new deployment's first resync
        assert_exact(settings, Truth.of(events), conn)
        yield worker, conn
        assert "Traceback" not in worker.log()
    finally:
        worker.stop()
        conn.close()


@pytest.fixture
def replayed(stack: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A worker on the shared Redis that has applied the history and made Redis exact."""
    settings = tier_settings(stack, tmp_path, resync_check_interval_s=0.5)
    try:
        with replaying(settings, tmp_path):
            yield settings
    finally:
        conn = redis_client(settings)
        delete_keys(conn, settings.redis_key_prefix)
        conn.close()


def final_truth(settings: Settings) -> dict[str, dict[str, str]]:
    assert settings.rules_dir is not None
    rules = load_rules(rule_files(settings.rules_dir))
    return expected_membership(rules, final_profiles(settings))


def assert_rebuilt(settings: Settings, conn: redis.Redis) -> None:
    """Redis equals a recomputation from the profiles (their totals are the profiles' own)."""
    profiles = final_profiles(settings)
    truth = Truth()
    for customer, profile in profiles.items():
        truth.orders[customer], truth.cents[customer] = profile.orders, profile.spend_cents
    assert_exact(settings, truth, conn)


@pytest.mark.usefixtures("cdnow")
def test_a_flush_of_every_key_is_rebuilt_and_no_read_shows_a_wrong_segment(
    replayed: Settings,
) -> None:
    settings = replayed
    truth = final_truth(settings)
    conn = redis_client(settings)
    reader = Reader(settings.redis_url, settings.redis_key_prefix, sample(truth))
    reader.start()
    try:
        flush(conn, settings.redis_key_prefix)  # this test's keys only: Redis is shared
        wait_resynced(conn, settings)
        reader.finish()
        assert not reader.wrong, f"{len(reader.wrong)} wrong reads, e.g. {reader.wrong[:5]}"
        assert reader.reads > 0
        assert_rebuilt(settings, conn)
    finally:
        reader.finish()
        conn.close()


@pytest.mark.usefixtures("cdnow")
def test_a_flush_while_events_flow_is_rebuilt_and_later_events_land_on_top(
    stack: Settings, tmp_path: Path, processes: list[WorkerProcess]
) -> None:
    """Redis loses everything while the worker is halfway through a replay: the resync and the
    envelopes still to come interleave in each partition's order, and the end is exact."""
    settings = tier_settings(stack, tmp_path, resync_check_interval_s=0.5)
    events = cdnow_purchases(EVENTS)
    half = len(events) // 2
    ensure_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    processes.append(worker)
    conn = redis_client(settings)
    try:
        worker.wait_ready()
        send(settings, settings.events_topic, events[:half])
        wait_until(
            lambda: (worker.stats() or {}).get("applied", 0) >= half // 4 or None,
            timeout_s=120, what="the replay under way",
        )  # fmt: skip
        send(settings, settings.events_topic, events[half:])
        flush(conn, settings.redis_key_prefix)  # with most of the history still to apply
        wait_drained(settings, timeout_s=300)
        wait_resynced(conn, settings)
        assert_exact(settings, Truth.of(events), conn)
        resync = (worker.stats() or {}).get("resync", {})
        assert resync.get("customers_rewritten", 0) > 0, resync  # the flush was noticed
        assert "Traceback" not in worker.log()
    finally:
        delete_keys(conn, settings.redis_key_prefix)
        conn.close()


def private_redis_port() -> int:
    """A free port in 41000-41999 (the range this project's engineers keep for own servers)."""
    rng = random.Random()
    for port in rng.sample(range(41000, 42000), 1000):
        if not port_in_use("127.0.0.1", port):
            return port
    raise AssertionError("no free port in 41000-41999")


@pytest.fixture
def volatile_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis", persistent=False)  # comes back empty
    server.port = private_redis_port()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.usefixtures("cdnow")
def test_a_redis_restarted_without_persistence_is_rebuilt_from_the_profiles(
    stack: Settings, tmp_path: Path, volatile_redis: PrivateRedis
) -> None:
    settings = tier_settings(stack, tmp_path, redis_url=volatile_redis.url,
                             resync_check_interval_s=0.5)  # fmt: skip
    with replaying(settings, tmp_path) as (worker, conn):
        truth = final_truth(settings)
        reader = Reader(settings.redis_url, settings.redis_key_prefix, sample(truth))
        reader.start()
        try:
            volatile_redis.stop()
            volatile_redis.start()  # empty: the worker refills it
            wait_resynced(conn, settings)
        finally:
            reader.finish()
        assert not reader.wrong, f"{len(reader.wrong)} wrong reads, e.g. {reader.wrong[:5]}"
        assert reader.reads > 0
        assert_rebuilt(settings, conn)
        stats = worker.stats()
        assert stats is not None
        assert stats["resync"]["customers_rewritten"] >= len(final_profiles(settings))


@pytest.mark.usefixtures("cdnow")
def test_a_worker_started_on_a_flushed_redis_rebuilds_it_without_waiting_for_its_check(
    stack: Settings, tmp_path: Path
) -> None:
    """The check interval is an hour, so only the check a worker makes once its partitions are
    recovered can start (and finish) these resyncs: a new deployment's, then a restart's on a
    Redis that lost every key while the worker was down."""
    settings = tier_settings(stack, tmp_path, resync_check_interval_s=3600)
    events = cdnow_purchases(4_000)
    ensure_topics(settings)
    conn = redis_client(settings)
    worker = WorkerProcess(settings, tmp_path / "first.log").start()
    try:
        worker.wait_ready()
        wait_resynced(conn, settings, timeout_s=60)
        send(settings, settings.events_topic, events)
        wait_drained(settings, timeout_s=300)
        assert_exact(settings, Truth.of(events), conn)
        worker.stop()
        flush(conn, settings.redis_key_prefix)
        worker = WorkerProcess(settings, tmp_path / "second.log").start()  # the same disk
        worker.wait_ready()
        wait_resynced(conn, settings, timeout_s=60)
        assert_rebuilt(settings, conn)
        assert "Traceback" not in worker.log()
    finally:
        worker.stop()
        delete_keys(conn, settings.redis_key_prefix)
        conn.close()


@pytest.mark.usefixtures("cdnow")
def test_segstream_resync_of_one_partition_rewrites_that_partition_s_customers(
    replayed: Settings, tmp_path: Path
) -> None:
    """Redis lost everything but the markers (as a failover that drops writes may, in part):
    `resync --partition 1` restores partition 1's customers and leaves the others missing."""
    settings = replayed
    truth = final_truth(settings)
    members = [c for c, segments in truth.items() if segments]
    in_one = [c for c in members if key_partition(c.encode(), 4) == 1]
    others = [c for c in members if key_partition(c.encode(), 4) != 1]
    assert in_one
    assert others
    conn = redis_client(settings)
    try:
        prefix = settings.redis_key_prefix
        keys = [partition_epoch_key(prefix, p) for p in range(4)]
        markers = {key: raw for key, raw in zip(keys, conn.mget(keys), strict=True) if raw}
        lose = conn.pipeline(transaction=True)  # in one step: no worker sees a marker gone
        lose.eval(FLUSH_PREFIX, 0, f"{prefix}:*")
        lose.mset(markers)  # the markers survived
        lose.execute()
        env = {**os.environ, **settings.to_env()}
        command = [sys.executable, "-m", "streams.cli", "resync", "--partition", "1", "--json"]
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, done.stderr
        outcome = json.loads(done.stdout)
        assert (outcome["partitions"], outcome["done"]) == ([1], True)
        # Every profile of partition 1 was re-evaluated, members and others alike.
        assert outcome["customers_rewritten"] >= len(in_one)
        pipe = conn.pipeline(transaction=False)
        for customer in in_one + others:
            pipe.exists(customer_key(prefix, customer))
        present = dict(zip(in_one + others, pipe.execute(), strict=True))
        assert all(present[c] for c in in_one)
        assert not any(present[c] for c in others)
        for segment in {s for c in in_one for s in truth[c]}:
            found = read_members(conn, prefix, settings.topic_partitions, segment)
            assert found == {c for c in in_one if segment in truth[c]}
    finally:
        conn.close()
