"""A Redis Cluster of the tests' own (six nodes, three primaries with a replica each), on free
loopback ports, its data in a temporary directory, stopped by the pids it recorded.

``redis_cluster_settings`` is a session fixture for conftest.py to import; ``running_cluster``
is the same for a test module that needs a cluster of its own (one it may break).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.settings import Settings
from streams.stack.processes import port_in_use
from streams.stack.redis_cluster import (
    BUS_PORT_OFFSET,
    DEFAULT_NODES,
    start_redis_cluster,
    stop_redis_cluster,
)
from tests.integration.harness import wait_until

# Cluster buses at +10000 (30000-40000) stay clear of the private Kafkas' 41000-42000.
CLUSTER_PORTS = range(20_000, 30_000)


def free_cluster_base(nodes: int = DEFAULT_NODES) -> int | None:
    """The first of ``nodes`` consecutive loopback ports, free with their cluster bus ports, at a
    random place in CLUSTER_PORTS, or None."""
    base = random.randrange(CLUSTER_PORTS.start, CLUSTER_PORTS.stop - nodes)
    ports = [
        *range(base, base + nodes),
        *range(base + BUS_PORT_OFFSET, base + BUS_PORT_OFFSET + nodes),
    ]
    return None if any(port_in_use("127.0.0.1", port) for port in ports) else base


@contextlib.contextmanager
def running_cluster(base: Settings, stack_dir: Path, **values: object) -> Iterator[Settings]:
    """``base`` with a cluster of its own: SEGSTREAM_REDIS_URL its first node, ``values`` on top
    (a password, say). Every node started is stopped on the way out, whatever failed."""
    port = wait_until(free_cluster_base, timeout_s=10, what=f"{DEFAULT_NODES} free ports")
    settings = base.model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{port}/0",
            "redis_cluster": True,
            "redis_username": None,  # the dev cluster has no ACL users
            "stack_dir": stack_dir,
            **values,
        }
    )
    try:
        start_redis_cluster(settings)
        yield settings
    finally:
        stop_redis_cluster(settings)


@pytest.fixture(scope="session")
def redis_cluster_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The environment's settings with a Redis Cluster of this session's own."""
    with running_cluster(Settings(), tmp_path_factory.mktemp("redis-cluster")) as settings:
        yield settings
