"""Fixtures for tests against the real Kafka and Redis that scripts/test.sh starts."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from streams.dependencies import DependencyError, kafka_admin, redis_client, wait_for_redis
from streams.settings import Settings
from streams.stack.kafka import cluster_bootstrap, kafka_process, start_kafka, stop_kafka
from streams.stack.processes import port_in_use
from tests.integration.exactness import delete_keys, require_cdnow, tier_settings
from tests.integration.harness import WorkerProcess, free_port, isolated_settings, wait_until


@pytest.fixture(scope="session")
def stack() -> Settings:
    """The running stack's settings; fails with the fix when Kafka or Redis is not there."""
    settings = Settings()
    try:
        wait_for_redis(settings, timeout_s=5)
        kafka_admin(settings, timeout_s=10).close()
    except DependencyError as exc:
        pytest.fail(f"{exc}. Run the suite with scripts/test.sh, which starts both.")
    return settings


@pytest.fixture
def settings(stack: Settings, tmp_path: Path) -> Settings:
    return isolated_settings(stack, tmp_path / "worker")


@pytest.fixture
def redis_conn(settings: Settings) -> Iterator[redis.Redis]:
    client = redis_client(settings)
    yield client
    for key in client.scan_iter(match=f"{settings.redis_key_prefix}:*", count=1000):
        client.delete(key)
    client.close()


VIP_HOLDOUT_RULES = (
    "segments:\n"
    "  - {id: vip, name: VIP, description: d, condition: 'orders_lifetime >= 1', holdout: 50%}\n"
)


@pytest.fixture
def vip_holdout(stack: Settings, tmp_path: Path) -> Iterator[tuple[Settings, Path, redis.Redis]]:
    """A worker with one rule file: ``vip`` (any order), half of its members held out in control.

    Yields its settings, the rules directory and a Redis client; cleans its keys up afterwards."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "vip.yaml").write_text(VIP_HOLDOUT_RULES)
    settings = isolated_settings(stack, tmp_path / "worker", rules_dir=rules_dir)
    client = redis_client(settings)
    process = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        process.wait_ready()
        yield settings, rules_dir, client
    finally:
        process.stop()
        for key in client.scan_iter(match=f"{settings.redis_key_prefix}:*"):
            client.delete(key)
        client.close()


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture
def tiers(stack: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Settings of a worker running the tier rules of exactness.py; its Redis keys are deleted
    afterwards."""
    settings = tier_settings(stack, tmp_path)
    yield settings
    client = redis_client(settings)
    delete_keys(client, settings.redis_key_prefix)
    client.close()


@pytest.fixture
def cdnow() -> None:
    require_cdnow()


def free_kafka_port() -> int | None:
    """A free loopback port whose successor (the controller's) is free too, or None."""
    port = free_port()
    return None if port_in_use("127.0.0.1", port + 1) else port


@pytest.fixture
def private_kafka(stack: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A single-node Kafka of this test's own (broker and controller on free loopback ports,
    data under tmp_path), stopped by the PID it recorded: the shared test broker stays untouched.
    Yields settings pointing at it."""
    port = wait_until(free_kafka_port, timeout_s=10, what="two free consecutive ports")
    settings = stack.model_copy(
        update={"kafka_bootstrap": f"127.0.0.1:{port}", "stack_dir": tmp_path / "kafka"}
    )
    start_kafka(settings)
    try:
        yield settings
    finally:
        kafka_process(settings).stop()


REPLICATED_BROKERS = 3
PRIVATE_PORTS = range(41_000, 42_000)  # the private stacks' range, away from the shared stack's


def free_port_block(count: int) -> int | None:
    """The first of ``count`` consecutive free loopback ports at a random place in
    PRIVATE_PORTS, or None."""
    base = random.randrange(PRIVATE_PORTS.start, PRIVATE_PORTS.stop - count)
    taken = any(port_in_use("127.0.0.1", port) for port in range(base, base + count))
    return None if taken else base


@pytest.fixture(scope="module")
def replicated_kafka(
    stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """Three KRaft brokers of this module's own (combined broker+controller, every one a voter),
    on free loopback ports (see streams/stack/kafka.py for the layout), data under a temporary
    dir, stopped by the PIDs they recorded. Yields settings for all three: bootstrap listing
    each, topics of 3 replicas, 2 of them in sync for a write."""
    ports = 3 * REPLICATED_BROKERS
    base = wait_until(lambda: free_port_block(ports), timeout_s=10, what=f"{ports} free ports")
    settings = stack.model_copy(
        update={
            "kafka_bootstrap": f"127.0.0.1:{base}",
            "dev_kafka_brokers": REPLICATED_BROKERS,
            "stack_dir": tmp_path_factory.mktemp("replicated-kafka"),
            "topic_replication": 3,
            "topic_min_insync_replicas": 2,
        }
    )
    settings = settings.model_copy(update={"kafka_bootstrap": cluster_bootstrap(settings)})
    try:
        start_kafka(settings)
        yield settings
    finally:
        stopping = time.monotonic()
        stop_kafka(settings)
        print(f"{REPLICATED_BROKERS} brokers stopped in {time.monotonic() - stopping:.1f}s")


@pytest.fixture
def processes() -> Iterator[list[WorkerProcess]]:
    """Worker (or trainer) processes a test starts; stopped at its end, the last started first."""
    started: list[WorkerProcess] = []
    yield started
    for process in reversed(started):
        process.stop()
