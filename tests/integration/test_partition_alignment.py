"""Several workers on one events topic: each rebatcher reads the partitions its own agent owns.

With a consumer group of their own, the rebatchers were assigned partitions apart from Faust's
agents: with two workers every envelope crossed to the other worker, and after a kill -9 their
group rejoined once per dead member, reading nothing while it waited for each dead session.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient

from bench.workload import send
from streams.dependencies import ensure_topics, redis_client
from streams.settings import Settings
from streams.topics import ingest_group
from tests.integration.exactness import (
    Truth,
    assert_exact,
    cdnow_purchases,
    delete_keys,
    tier_settings,
)
from tests.integration.harness import (
    WorkerProcess,
    free_port,
    settled_stats,
    wait_drained,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EVENTS = 24_000


def start_workers(
    settings: Settings, tmp_path: Path, count: int, workers: list[WorkerProcess]
) -> list[WorkerProcess]:
    for n in range(count):
        own = settings.model_copy(update={"data_dir": tmp_path / f"w{n}", "web_port": free_port()})
        workers.append(WorkerProcess(own, tmp_path / f"worker-{n}.log").start())
    for worker in workers:
        worker.wait_ready()
    return workers


def assert_exact_then_clean_up(settings: Settings, events: list[tuple[bytes, bytes]]) -> None:
    conn = redis_client(settings)
    try:
        assert_exact(settings, Truth.of(events), conn)
    finally:
        delete_keys(conn, settings.redis_key_prefix)
        conn.close()


def group_members(settings: Settings, group: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    try:
        (description,) = admin.describe_consumer_groups([group])
        return len(description.members)
    finally:
        admin.close()


def growth(before: list[dict[str, Any]], after: list[dict[str, Any]], counter: str) -> list[int]:
    return [int(a[counter]) - int(b[counter]) for b, a in zip(before, after, strict=True)]


@pytest.mark.usefixtures("cdnow")
def test_two_workers_apply_every_envelope_in_the_worker_that_made_it(
    stack: Settings, tmp_path: Path, processes: list[WorkerProcess]
) -> None:
    settings = tier_settings(stack, tmp_path)
    ensure_topics(settings)
    workers = start_workers(settings, tmp_path, 2, processes)
    partitions = settings.topic_partitions
    before = wait_until(
        lambda: settled_stats(workers, partitions), timeout_s=120, what="an assignment"
    )
    events = cdnow_purchases(EVENTS)
    send(settings, settings.events_topic, events)
    wait_drained(settings, timeout_s=300)
    after = wait_until(
        lambda: settled_stats(workers, partitions), timeout_s=60, what="an assignment"
    )
    if [b["partitions"] for b in before] != [a["partitions"] for a in after]:
        pytest.fail(f"the group rebalanced during the replay: {before} -> {after}")
    forwarded = growth(before, after, "forwarded_by_rebatcher")
    crossed = growth(before, after, "envelopes_made_for_unowned_partitions")
    assert sum(forwarded) == len(events)
    assert all(forwarded)  # both read some partitions
    assert crossed == [0, 0]  # no envelope was made for the other worker's agent
    assert group_members(settings, ingest_group(settings)) == 0  # offsets only, no membership
    assert group_members(settings, settings.app_id) == 2
    assert_exact_then_clean_up(settings, events)


@pytest.mark.usefixtures("cdnow")
def test_kill_9_of_one_of_three_workers_mid_stream_loses_and_doubles_nothing(
    stack: Settings, tmp_path: Path, processes: list[WorkerProcess]
) -> None:
    settings = tier_settings(stack, tmp_path, topic_partitions=6)
    ensure_topics(settings)
    workers = start_workers(settings, tmp_path, 3, processes)
    wait_until(lambda: settled_stats(workers, 6), timeout_s=120, what="an assignment")
    events = cdnow_purchases(EVENTS)
    half = len(events) // 2
    send(settings, settings.events_topic, events[:half])
    victim = workers[1]
    wait_until(
        lambda: (victim.stats() or {}).get("applied", 0) > 0, timeout_s=120, what="work under way"
    )
    victim.kill()
    killed = time.monotonic()
    send(settings, settings.events_topic, events[half:])
    survivors = [workers[0], workers[2]]
    wait_until(lambda: settled_stats(survivors, 6), timeout_s=180, what="the survivors' take-over")
    print(f"survivors read every partition {time.monotonic() - killed:.1f}s after the kill")
    wait_drained(settings, timeout_s=300)
    assert_exact_then_clean_up(settings, events)
    for worker in survivors:
        assert "Traceback" not in worker.log()
