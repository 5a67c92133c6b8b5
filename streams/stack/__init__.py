"""The local dev stack without Docker: Kafka (KRaft, from Maven Central) and Redis, on loopback.

``up`` is idempotent and starts only what is not running; ``down`` stops only the processes ``up``
started (by the pids it recorded), every one of them whatever fails in between; ``status`` reports
Redis and each Kafka node (``dev up --brokers N`` runs N; see streams/stack/kafka.py). With
SEGSTREAM_REDIS_CLUSTER=true (``dev up --redis-cluster``), Redis is a six-node Redis Cluster
instead (streams/stack/redis_cluster.py), reported node by node.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from streams.settings import Settings
from streams.stack.kafka import cluster_bootstrap, kafka_nodes, kafka_processes, start_kafka
from streams.stack.processes import Managed, StackError
from streams.stack.redis_cluster import (
    DEFAULT_NODES,
    cluster_nodes,
    redis_cluster_processes,
    start_redis_cluster,
)
from streams.stack.redis_server import redis_process, start_redis

__all__ = ["ServiceStatus", "StackError", "down", "status", "up"]


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    name: str
    running: bool
    pid: int | None
    address: str


def up(settings: Settings, *, log: Callable[[str], None] = print) -> list[ServiceStatus]:
    if settings.redis_cluster:
        log(f"redis cluster: {start_redis_cluster(settings)}")
        log(redis_cluster_clients_hint(settings))
    else:
        log(f"redis: {start_redis(settings)}")
    log(f"kafka: {start_kafka(settings)}")
    if len(kafka_nodes(settings)) > 1:
        log(replicated_clients_hint(settings))
    return status(settings)


def replicated_clients_hint(settings: Settings) -> str:
    """What workers and the CLI need to use every broker (and survive one's crash)."""
    brokers = len(kafka_nodes(settings))
    return (
        f"clients: export SEGSTREAM_KAFKA_BOOTSTRAP={cluster_bootstrap(settings)} "
        f"SEGSTREAM_TOPIC_REPLICATION={min(brokers, 3)} "
        f"SEGSTREAM_TOPIC_MIN_INSYNC_REPLICAS={min(brokers, 2)}"
    )


def redis_cluster_clients_hint(settings: Settings) -> str:
    """What workers and the CLI need to use the cluster (``dev up --redis-cluster`` sets neither
    in their environment)."""
    url = settings.redis_url
    host, port = settings.redis_host_port
    others = ",".join(f"{host}:{port + n}" for n in range(1, DEFAULT_NODES))
    return (
        f"clients: export SEGSTREAM_REDIS_CLUSTER=true SEGSTREAM_REDIS_URL={url} "
        f"SEGSTREAM_REDIS_CLUSTER_NODES={others}"
    )


def down(settings: Settings, *, log: Callable[[str], None] = print) -> None:
    """Stop Kafka, then Redis; an error on the way (a log line into a broken pipe, a second Ctrl-C)
    is raised only once every process has had its stop."""
    kafka = kafka_processes(settings)
    cluster, single = _redis_processes(settings)
    # Every broker asked at once: in turn, the last ones would wait for a quorum already gone.
    # Every cluster node too: in turn, each primary's replica would take over from it.
    asked = {process.name for process in [*kafka, *cluster] if process.terminate()}
    _stop_all([*kafka, *cluster, *single], log, asked)


def _redis_processes(settings: Settings) -> tuple[list[Managed], list[Managed]]:
    """The Redis Cluster's nodes and the single Redis that ``down`` stops: those of the kind
    configured, and those of the other kind a pid file says were started (with the other
    setting), so that none is left running."""
    cluster, single = redis_cluster_processes(settings), redis_process(settings)
    if settings.redis_cluster:
        return cluster, [single] if single.pid_file.exists() else []
    return [node for node in cluster if node.pid_file.exists()], [single]


def _stop_all(
    processes: Sequence[Managed], log: Callable[[str], None], asked: Collection[str]
) -> None:
    """Stop each of ``processes``; those in ``asked`` were already sent their SIGTERM (and may
    be gone by now)."""
    if not processes:
        return
    first, *rest = processes
    try:
        stopped = first.stop() or first.name in asked
        log(f"{first.name}: {'stopped' if stopped else 'was not running'}")
    finally:
        _stop_all(rest, log, asked)


def status(settings: Settings) -> list[ServiceStatus]:
    kafka = [
        ServiceStatus(node.process.name, pid is not None, pid, node.address)
        for node in kafka_nodes(settings)
        for pid in [node.process.pid()]
    ]
    return [*kafka, *_redis_status(settings)]


def _redis_status(settings: Settings) -> list[ServiceStatus]:
    if settings.redis_cluster:
        return [
            ServiceStatus(node.process.name, pid is not None, pid, node.address)
            for node in cluster_nodes(settings)
            for pid in [node.process.pid()]
        ]
    redis_host, redis_port = settings.redis_host_port
    redis_pid = redis_process(settings).pid()
    return [ServiceStatus("redis", redis_pid is not None, redis_pid, f"{redis_host}:{redis_port}")]
