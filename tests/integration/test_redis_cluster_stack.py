"""The dev stack's Redis Cluster for real: six redis-servers on free loopback ports serve every
slot, survive SIGKILL of a primary (its replica takes over, with the data), take the killed node
back as a replica, and keep their data and roles across a stop and start.

Needs redis-server, not Kafka. The cluster is this module's own (running_cluster), not the
session's (redis_cluster_settings): the failover here leaves the roles shuffled. It has a password
with a space and quotes in it, which the nodes (for clients and for their primaries) and redis-cli
must all get right.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import SecretStr
from redis.cluster import RedisCluster
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from streams.settings import Settings
from streams.stack import status
from streams.stack.redis_cluster import (
    cluster_nodes,
    cluster_primaries,
    fail_over_by_kill,
    restart_node,
    start_redis_cluster,
    stop_redis_cluster,
)
from tests.integration.redis_cluster_fixture import running_cluster

PASSWORD = 'cluster "pass" word'


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    stack_dir = tmp_path_factory.mktemp("redis-cluster-stack")
    with running_cluster(Settings(), stack_dir, redis_password=SecretStr(PASSWORD)) as settings:
        yield settings


@pytest.fixture
def client(cluster: Settings) -> Iterator[RedisCluster]:
    host, port = cluster.redis_host_port
    conn = RedisCluster(host=host, port=port, password=PASSWORD, decode_responses=True)
    yield conn
    conn.close()


def key_per_slot() -> dict[int, str]:
    """One key for each of the 16384 slots."""
    keys: dict[int, str] = {}
    serial = 0
    while len(keys) < REDIS_CLUSTER_HASH_SLOTS:
        key = f"segstream-test:slot:{serial}"
        keys.setdefault(key_slot(key.encode()), key)
        serial += 1
    return keys


KEYS = key_per_slot()


def write_every_slot(client: RedisCluster, value: str) -> None:
    pipe: Any = client.pipeline()  # type: ignore[no-untyped-call]
    for slot, key in KEYS.items():
        pipe.set(key, f"{value}:{slot}")
    assert all(pipe.execute())


def slots_reading(client: RedisCluster, value: str) -> int:
    """How many slots give back what ``write_every_slot`` wrote there with ``value``."""
    pipe: Any = client.pipeline()  # type: ignore[no-untyped-call]
    for key in KEYS.values():
        pipe.get(key)
    read = pipe.execute()
    return sum(got == f"{value}:{slot}" for slot, got in zip(KEYS, read, strict=True))


def replicated(settings: Settings) -> None:
    """Each primary's writes are on its replica: replication is asynchronous, and a write that
    has not reached the replica yet is lost with a SIGKILLed primary."""
    for host, port in cluster_primaries(settings):
        primary = redis.Redis(host=host, port=port, password=PASSWORD)
        try:
            assert primary.wait(1, 5_000) >= 1, f"{host}:{port} has no replica in sync"
        finally:
            primary.close()


def ports(addresses: list[tuple[str, int]]) -> set[int]:
    return {port for _, port in addresses}


def test_every_slot_is_served_by_three_primaries(cluster: Settings, client: RedisCluster) -> None:
    assert len(cluster_primaries(cluster)) == 3
    write_every_slot(client, "first")
    assert slots_reading(client, "first") == REDIS_CLUSTER_HASH_SLOTS
    nodes = [service for service in status(cluster) if service.name.startswith("redis-cluster")]
    assert len(nodes) == 6
    assert all(service.running for service in nodes)


def test_the_password_is_in_no_process_list(cluster: Settings) -> None:
    for node in cluster_nodes(cluster):
        pid = node.process.pid()
        assert pid is not None
        assert PASSWORD.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_starting_again_leaves_the_running_cluster_alone(cluster: Settings) -> None:
    started = time.monotonic()
    said = start_redis_cluster(cluster)
    assert said.startswith("already running (6 nodes")
    assert time.monotonic() - started < 5


def test_a_killed_primary_s_replica_takes_over_its_slots_and_data(
    cluster: Settings, client: RedisCluster
) -> None:
    write_every_slot(client, "before")
    replicated(cluster)
    before = cluster_primaries(cluster)
    victim = before[0][1]
    killing = time.monotonic()
    fail_over_by_kill(cluster, victim)
    print(f"failover after SIGKILL of {victim}: {time.monotonic() - killing:.1f}s")
    after = cluster_primaries(cluster)
    assert len(after) == 3
    assert victim not in ports(after)
    assert len(ports(after) - ports(before)) == 1  # one replica promoted
    # The same client follows the failover: every slot is served, with what it held.
    assert slots_reading(client, "before") == REDIS_CLUSTER_HASH_SLOTS
    write_every_slot(client, "after")
    assert slots_reading(client, "after") == REDIS_CLUSTER_HASH_SLOTS

    rejoining = time.monotonic()
    said = restart_node(cluster, victim)
    print(f"{victim} rejoined in {time.monotonic() - rejoining:.1f}s: {said}")
    assert "replica of" in said
    assert cluster_primaries(cluster) == after


def test_a_stopped_cluster_starts_again_with_its_data_and_roles(
    cluster: Settings, client: RedisCluster
) -> None:
    write_every_slot(client, "kept")
    primaries = cluster_primaries(cluster)
    stopping = time.monotonic()
    assert all(was_running for _, was_running in stop_redis_cluster(cluster))
    print(f"cluster stopped in {time.monotonic() - stopping:.1f}s")
    assert all(node.process.pid() is None for node in cluster_nodes(cluster))
    starting = time.monotonic()
    said = start_redis_cluster(cluster)
    print(f"cluster started again in {time.monotonic() - starting:.1f}s: {said}")
    assert "cluster created" not in said
    assert cluster_primaries(cluster) == primaries
    assert slots_reading(client, "kept") == REDIS_CLUSTER_HASH_SLOTS
