"""Membership that depends only on elapsed time changes on time, with no event, across restarts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from streams.settings import Settings
from streams.sink.redis_keys import customer_key
from tests.integration.harness import WorkerProcess, produce, wait_until

pytestmark = pytest.mark.integration

# Timers fire within a tick (0.1 s) plus one trip through Kafka and Redis.
TOLERANCE_S = 1.0


def rules_dir(tmp_path: Path, seconds: int) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "recent.yaml").write_text(
        "segments:\n"
        "  - id: active_now\n"
        "    name: Active now\n"
        "    description: Visited in the last few seconds.\n"
        f"    condition: seconds_since_last_visit <= {seconds}\n"
    )
    return directory


@pytest.fixture
def timed_worker(settings: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    rules = rules_dir(tmp_path, 20)
    process = WorkerProcess(settings.model_copy(update={"rules_dir": rules}), tmp_path / "w.log")
    try:
        yield process.start()
    finally:
        process.stop()


def page_view(customer: str, ts: float) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(ts, UTC).isoformat()
    return {"type": "page_view", "event_id": f"{customer}-{ts}", "customer_id": customer,
            "ts": stamp, "url": "/"}  # fmt: skip


def exit_time(client: redis.Redis, key: str, timeout_s: float) -> float:
    """Wall-clock time at which the ``active_now`` field disappears (polled every 20 ms)."""
    deadline = time.monotonic() + timeout_s
    while client.hexists(key, "active_now"):
        if time.monotonic() > deadline:
            raise AssertionError(f"{key} still present after {timeout_s:.0f}s")
        time.sleep(0.02)
    return time.time()


def becomes_active(
    worker: WorkerProcess, client: redis.Redis, customer: str
) -> tuple[float, str]:
    """A page view now; returns its time and the customer's key once Redis shows the entry."""
    worker.wait_ready()
    visit = time.time()
    produce(worker.settings, [(customer, page_view(customer, visit))])
    key = customer_key(worker.settings.redis_key_prefix, customer)
    wait_until(lambda: client.hget(key, "active_now"), timeout_s=15, what=f"{customer} active")
    return visit, key


def test_a_visitor_leaves_the_segment_when_the_window_closes_not_before(
    timed_worker: WorkerProcess, redis_conn: redis.Redis
) -> None:
    visit, key = becomes_active(timed_worker, redis_conn, "alice")
    left = exit_time(redis_conn, key, timeout_s=40)
    boundary = visit + 20
    print(f"left {left - boundary:+.3f}s after the boundary")
    assert boundary <= left <= boundary + TOLERANCE_S, f"left {left - boundary:+.3f}s off"


def test_the_timer_survives_a_worker_restart(
    timed_worker: WorkerProcess, redis_conn: redis.Redis
) -> None:
    visit, key = becomes_active(timed_worker, redis_conn, "bob")
    timed_worker.stop()  # the in-memory timer is gone with the process
    timed_worker.start()
    timed_worker.wait_ready()
    assert time.time() < visit + 20, "the worker restarted too slowly for this test"
    left = exit_time(redis_conn, key, timeout_s=40)
    boundary = visit + 20
    print(f"left {left - boundary:+.3f}s after the boundary")
    assert boundary <= left <= boundary + TOLERANCE_S, f"left {left - boundary:+.3f}s off"
