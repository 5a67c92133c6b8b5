"""Faults on a real worker: kill -9 mid-replay, Redis stopped, the Kafka broker restarted.

After each, every customer's order count and spend equal the ground truth computed from the input
(nothing lost, nothing counted twice) and Redis equals a fresh recomputation of the rules on the
final profiles (see tests/integration/exactness.py).
"""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pytest
import redis

from bench.workload import send
from streams.dependencies import ensure_topics, redis_client
from streams.ops.scrape import fetch
from streams.settings import Settings
from streams.stack.kafka import start_kafka
from tests.integration.exactness import (
    Truth,
    assert_exact,
    cdnow_purchases,
    delete_keys,
    tier_settings,
)
from tests.integration.harness import (
    PrivateRedis,
    WorkerProcess,
    dead_letters_by_source,
    kill_kafka,
    wait_drained,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CRASH_EVENTS = 200_000
CRASH_SEED = 8
BAD_EVENTS = 200  # malformed, mixed in: each must be dead-lettered once however often replayed
KILLS = 4  # and one more during the table recovery after one of them
RECOVERING = "Restoring state from changelog topics"  # Faust's log line


class KillSchedule:
    """Seeded kill points: fractions of the replay's events; and after which kill the worker also
    loses its disk (its RocksDB state), so the restart recovers every profile from the changelog,
    and is killed while it does."""

    def __init__(self, seed: int, kills: int, events: int) -> None:
        rng = random.Random(seed)
        self.at_events = sorted(int(rng.uniform(0.03, 0.95) * events) for _ in range(kills))
        self.jitter_s = [rng.uniform(0.0, 0.5) for _ in range(kills)]
        self.lost_disk_after = rng.randrange(kills)
        self.recovery_kill_s = rng.uniform(0.0, 1.0)


def with_bad_events(events: list[tuple[bytes, bytes]], count: int, seed: int) -> list[bytes]:
    """Insert ``count`` malformed events (each distinct, keyed by a customer of the replay) at
    seeded places of ``events``; returns them."""
    rng = random.Random(seed)
    bad = [b'{"type": "purchase", "event_id": "bad-%d"' % n for n in range(count)]
    for raw in bad:
        key = rng.choice(events)[0]
        events.insert(rng.randrange(len(events) + 1), (key, raw))
    return bad


def applied_so_far(worker: WorkerProcess, before: int) -> int | None:
    """Events applied by the killed workers before (``before``) and by this one; None if it is
    not serving yet. Replays after a kill may count some twice: a kill point, not a check."""
    worker._check_alive()
    stats = worker.stats()
    return None if stats is None else before + int(stats["applied"])


def wait_applied(worker: WorkerProcess, before: int, target: int) -> int:
    def reached() -> int | None:
        applied = applied_so_far(worker, before)
        return applied if applied is not None and applied >= target else None

    return wait_until(reached, timeout_s=300, what=f"the worker to apply {target} events")


def wait_logged(worker: WorkerProcess, text: str) -> None:
    wait_until(
        lambda: worker._check_alive() and text in worker.log(),
        timeout_s=120,
        what=f"{text!r} in {worker.log_path}",
    )


@pytest.mark.usefixtures("cdnow")
def test_kill_9_at_random_points_of_a_200k_replay_loses_and_doubles_nothing(
    tiers: Settings, tmp_path: Path
) -> None:
    settings = tiers
    events = cdnow_purchases(CRASH_EVENTS)
    truth = Truth.of(events)
    bad = with_bad_events(events, BAD_EVENTS, CRASH_SEED)
    ensure_topics(settings)
    send(settings, settings.events_topic, events)
    schedule = KillSchedule(CRASH_SEED, KILLS, len(events))
    started, applied, restarts = time.monotonic(), 0, 0

    def restart() -> WorkerProcess:
        nonlocal restarts
        restarts += 1
        return WorkerProcess(settings, tmp_path / f"worker-{restarts}.log").start()

    worker = restart()
    try:
        for kill, target in enumerate(schedule.at_events):
            reached = wait_applied(worker, applied, target)
            time.sleep(schedule.jitter_s[kill])  # anywhere inside a batch
            applied = applied_so_far(worker, applied) or reached
            worker.kill()
            print(f"kill -9 #{kill + 1} at {time.monotonic() - started:.0f}s, {applied} applied")
            if kill == schedule.lost_disk_after:
                shutil.rmtree(settings.data_dir)
                worker = restart()
                wait_logged(worker, RECOVERING)
                time.sleep(schedule.recovery_kill_s)
                worker.kill()
                print(f"disk lost, kill -9 {schedule.recovery_kill_s:.1f}s into table recovery")
            worker = restart()
        wait_drained(settings, timeout_s=600)
        print(f"{len(events)} events, {restarts - 1} kills: {time.monotonic() - started:.0f}s")
        assert worker.stats() is not None  # the last one is alive and serving
        conn = redis_client(settings)
        try:
            profiles = assert_exact(settings, truth, conn)
        finally:
            conn.close()
        assert len(profiles) == len(truth.orders)
        assert "Traceback" not in worker.log()
    finally:
        worker.stop()  # its producer sends whatever it still held
    dead = dead_letters_by_source(settings)
    assert len(dead) == len(bad)
    assert {source for source, count in dead.items() if count > 1} == set()


REDIS_OUTAGE_S = 30.0
OUTAGE_EVENTS = 30_000
KAFKA_OUTAGE_S = 10.0


def readiness(worker: WorkerProcess) -> int | None:
    """The HTTP status of the worker's /readyz (None while it does not answer)."""
    worker._check_alive()
    try:
        return fetch(f"{worker.settings.web_url}/readyz")[0]
    except OSError:
        return None


@pytest.mark.usefixtures("cdnow")
def test_redis_stopped_for_30_s_mid_stream_loses_no_update_and_the_worker_carries_on(
    stack: Settings, tmp_path: Path
) -> None:
    server = PrivateRedis(tmp_path / "redis", persistent=True)  # its data survives the stop
    server.start()
    settings = tier_settings(stack, tmp_path, redis_url=server.url, ops_interval_s=0.5)
    events = cdnow_purchases(OUTAGE_EVENTS)
    before, during, after = events[:12_000], events[12_000:24_000], events[24_000:]
    ensure_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        wait_until(lambda: readiness(worker) == 200, timeout_s=60, what="ready")
        send(settings, settings.events_topic, before)
        wait_applied(worker, 0, 6_000)  # mid-stream: half of the first part applied

        stopped = time.monotonic()
        server.stop()
        send(settings, settings.events_topic, during)  # arrives during the outage
        wait_until(lambda: readiness(worker) == 503, timeout_s=30, what="not ready")
        assert fetch(f"{settings.web_url}/livez")[0] == 200  # alive: no restart needed
        wait_until(
            lambda: "Redis write failed" in worker.log(), timeout_s=30, what="a failed write"
        )
        time.sleep(max(0.0, REDIS_OUTAGE_S - (time.monotonic() - stopped)))
        assert readiness(worker) == 503
        server.start()
        print(f"Redis down for {time.monotonic() - stopped:.1f}s")

        wait_until(lambda: readiness(worker) == 200, timeout_s=60, what="ready again")
        send(settings, settings.events_topic, after)
        wait_drained(settings, timeout_s=300)
        conn = redis.Redis.from_url(server.url)
        try:
            assert_exact(settings, Truth.of(events), conn)
        finally:
            conn.close()
        assert "Traceback" not in worker.log()
    finally:
        worker.stop()
        server.stop()


@pytest.mark.usefixtures("cdnow")
def test_kafka_broker_killed_and_restarted_mid_stream_the_worker_resumes_exactly(
    private_kafka: Settings, tmp_path: Path
) -> None:
    settings = tier_settings(private_kafka, tmp_path)
    events = cdnow_purchases(OUTAGE_EVENTS)
    before, after = events[:20_000], events[20_000:]
    ensure_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    conn = redis_client(settings)
    try:
        worker.wait_ready()
        send(settings, settings.events_topic, before)
        wait_applied(worker, 0, 5_000)  # mid-stream: a quarter of the first part applied

        stopped = time.monotonic()
        kill_kafka(settings)
        time.sleep(KAFKA_OUTAGE_S)
        worker._check_alive()
        start_kafka(settings)
        print(f"Kafka down for {time.monotonic() - stopped:.1f}s")

        send(settings, settings.events_topic, after)
        wait_drained(settings, timeout_s=300)
        wait_until(lambda: readiness(worker) == 200, timeout_s=60, what="ready")
        assert_exact(settings, Truth.of(events), conn)
    finally:
        worker.stop()
        delete_keys(conn, settings.redis_key_prefix)
        conn.close()
