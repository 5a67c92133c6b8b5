"""The local dev stack without Docker: Kafka (KRaft, from Maven Central) and Redis, on loopback.

``up`` is idempotent and starts only what is not running; ``down`` stops only the processes ``up``
started (by the pids it recorded), every one of them whatever fails in between; ``status`` reports
Redis and each Kafka node (``dev up --brokers N`` runs N; see streams/stack/kafka.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from streams.settings import Settings
from streams.stack.kafka import cluster_bootstrap, kafka_nodes, kafka_processes, start_kafka
from streams.stack.processes import Managed, StackError
from streams.stack.redis_server import redis_process, start_redis

__all__ = ["ServiceStatus", "StackError", "down", "status", "up"]


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    name: str
    running: bool
    pid: int | None
    address: str


def up(settings: Settings, *, log: Callable[[str], None] = print) -> list[ServiceStatus]:
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


def down(settings: Settings, *, log: Callable[[str], None] = print) -> None:
    """Stop Kafka, then Redis; an error on the way (a log line into a broken pipe, a second Ctrl-C)
    is raised only once every process has had its stop."""
    kafka = kafka_processes(settings)
    # Every broker asked at once: in turn, the last ones would wait for a quorum already gone.
    asked = {process.name for process in kafka if process.terminate()}
    _stop_all([*kafka, redis_process(settings)], log, asked)


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
    redis_host, redis_port = settings.redis_host_port
    redis_pid = redis_process(settings).pid()
    kafka = [
        ServiceStatus(node.process.name, pid is not None, pid, node.address)
        for node in kafka_nodes(settings)
        for pid in [node.process.pid()]
    ]
    return [
        *kafka,
        ServiceStatus("redis", redis_pid is not None, redis_pid, f"{redis_host}:{redis_port}"),
    ]
