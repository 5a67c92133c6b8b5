"""A worker, the CLI and the storefront's reader on a Redis Cluster of three primaries with a
replica each (key layout v2): kill -9 of the worker mid-replay, and a primary killed mid-stream
(its replica promoted). Afterwards every customer's totals equal the input's and Redis equals a
recomputation from the profiles (tests/integration/exactness.py), read through a cluster client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from bench.workload import send
from streams.client import SegmentClient
from streams.dependencies import ensure_topics, redis_client
from streams.settings import Settings
from streams.stack.redis_cluster import cluster_primaries, fail_over_by_kill
from tests.integration.exactness import Truth, assert_exact, cdnow_purchases, tier_settings
from tests.integration.harness import WorkerProcess, produce, wait_drained, wait_until
from tests.integration.redis_cluster_fixture import running_cluster
from tests.integration.test_faults import KillSchedule, applied_so_far, wait_applied
from tests.integration.test_storefront import running_storefront

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KILL_EVENTS = 60_000
KILL_SEED = 11
FAILOVER_EVENTS = 30_000


@pytest.fixture
def on_cluster(stack: Settings, tmp_path: Path) -> Iterator[Settings]:
    """The tier rules' worker settings, with a Redis Cluster of this test's own."""
    with running_cluster(stack, tmp_path / "redis-cluster") as cluster:
        host, port = cluster.redis_host_port
        yield tier_settings(
            stack,
            tmp_path,
            redis_url=cluster.redis_url,
            redis_cluster=True,
            # Clients started after the URL's node died (the CLI here) start from another.
            redis_cluster_nodes=",".join(f"{host}:{port + n}" for n in range(1, 6)),
            stack_dir=cluster.stack_dir,
            resync_check_interval_s=1.0,
        )


def resync_counts(worker: WorkerProcess) -> tuple[int, int]:
    """Resyncs (started, completed) by this worker, all partitions together."""
    stats = worker.stats()
    resync: dict[str, Any] = (stats or {}).get("resync", {})
    return sum(resync.get("started", {}).values()), sum(resync.get("completed", {}).values())


def wait_resyncs_over(worker: WorkerProcess, more_than: int) -> None:
    """Until more than ``more_than`` resyncs started and every one started is complete."""

    def over() -> bool:
        started, completed = resync_counts(worker)
        return started > more_than and completed >= started

    wait_until(over, timeout_s=180, what=f"the worker's resyncs after the first {more_than}")


def run_cli(settings: Settings, *arguments: str) -> str:
    env = {**os.environ, **settings.to_env()}
    command = [sys.executable, "-m", "streams.cli", *arguments]
    done = subprocess.run(
        command, check=False, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.usefixtures("cdnow")
def test_kill_9_mid_replay_on_a_redis_cluster_loses_and_doubles_nothing(
    on_cluster: Settings, tmp_path: Path
) -> None:
    settings = on_cluster
    events = cdnow_purchases(KILL_EVENTS)
    truth = Truth.of(events)
    ensure_topics(settings)
    send(settings, settings.events_topic, events)
    schedule = KillSchedule(KILL_SEED, 2, len(events))
    applied, restarts = 0, 0

    def restart() -> WorkerProcess:
        nonlocal restarts
        restarts += 1
        return WorkerProcess(settings, tmp_path / f"worker-{restarts}.log").start()

    worker = restart()
    conn = redis_client(settings)
    try:
        for kill, target in enumerate(schedule.at_events):
            reached = wait_applied(worker, applied, target)
            time.sleep(schedule.jitter_s[kill])
            applied = applied_so_far(worker, applied) or reached
            worker.kill()
            worker = restart()
        wait_drained(settings, timeout_s=600)
        assert isinstance(conn, redis.RedisCluster)
        profiles = assert_exact(settings, truth, conn)
        assert len(profiles) == len(truth.orders)
        assert "Traceback" not in worker.log()
    finally:
        worker.stop()
        conn.close()


@pytest.mark.usefixtures("cdnow")
def test_a_primary_killed_mid_stream_is_followed_by_a_resync_and_redis_is_exact(
    on_cluster: Settings, tmp_path: Path
) -> None:
    settings = on_cluster
    events = cdnow_purchases(FAILOVER_EVENTS)
    before, after = events[: FAILOVER_EVENTS // 2], events[FAILOVER_EVENTS // 2 :]
    ensure_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    conn = redis_client(settings)
    try:
        worker.wait_ready()
        send(settings, settings.events_topic, before)
        wait_applied(worker, 0, 4_000)  # mid-stream
        first_resyncs, _ = resync_counts(worker)  # a new deployment's own, at start
        _, port = cluster_primaries(settings)[0]
        killed = time.monotonic()
        fail_over_by_kill(settings, port)
        took = time.monotonic() - killed
        print(f"primary :{port} killed; a replica served its slots {took:.1f}s later")
        send(settings, settings.events_topic, after)
        wait_drained(settings, timeout_s=300)
        wait_resyncs_over(worker, first_resyncs)
        assert "Redis write failed" in worker.log()  # the failover did hit the worker's writes
        profiles = assert_exact(settings, Truth.of(events), conn)

        # Readers on the cluster: the report's sizes add up the partitions' counters, and the
        # client reads a customer's hash from whichever shard holds it.
        report = json.loads(run_cli(settings, "report", "--json"))
        members = {
            r["segment"]: r["treatment"]["members"] + r["control"]["members"] for r in report
        }
        some = next(c for c, p in profiles.items() if p.orders >= 3)
        assert members["repeat_buyers"] == sum(1 for p in profiles.values() if p.orders >= 3)
        found = SegmentClient(conn, settings.redis_key_prefix).segments(some)
        assert "repeat_buyers" in found.segments
        assert "Traceback" not in worker.log()
    finally:
        worker.stop()
        conn.close()


def feed_events(url: str, wanted: int, timeout_s: float = 60) -> list[dict[str, Any]]:
    """The first ``wanted`` change events of a storefront's Server-Sent Events stream."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    with urllib.request.urlopen(url, timeout=timeout_s) as stream:  # loopback only
        while len(found) < wanted and time.monotonic() < deadline:
            line = stream.readline().decode()
            if line.startswith("data: "):
                found.append(json.loads(line.removeprefix("data: ")))
    return found


def test_the_storefront_shows_and_follows_a_customer_on_the_cluster(
    on_cluster: Settings, tmp_path: Path
) -> None:
    settings = on_cluster
    ensure_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        with running_storefront(settings, tmp_path / "storefront.log") as storefront:
            with ThreadPoolExecutor(1) as pool:
                following = pool.submit(feed_events, f"{storefront}/api/changes?customer=ann", 1)
                time.sleep(2)  # the page is open before the customer buys
                purchase = {
                    "type": "purchase", "event_id": "ann-1", "customer_id": "ann",
                    "ts": "2026-01-15T10:00:00Z", "order_id": "o1", "total": "150.00",
                }  # fmt: skip
                produce(settings, [("ann", purchase)])
                changes = following.result(timeout=90)
            # The tiers are exclusive: 150.00 makes ann silver only.
            assert [(c["segment"], c["direction"], c["reason"]) for c in changes] == [
                ("silver", "enter", "event")
            ]
            with urllib.request.urlopen(f"{storefront}/api/segments?customer=ann") as answer:
                page = json.load(answer)
        assert page["fallback"] is False
        assert "silver" in page["segments"]
    finally:
        worker.stop()
