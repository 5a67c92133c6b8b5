"""The local dev stack without Docker: Kafka (KRaft, from Maven Central) and Redis, on loopback.

``up`` is idempotent and starts only what is not running; ``down`` stops only the processes ``up``
started (by the pids it recorded), every one of them whatever fails in between; ``status`` reports
both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from streams.settings import Settings
from streams.stack.kafka import kafka_process, start_kafka
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
    return status(settings)


def down(settings: Settings, *, log: Callable[[str], None] = print) -> None:
    """Stop Kafka, then Redis; an error on the way (a log line into a broken pipe, a second Ctrl-C)
    is raised only once every process has had its stop."""
    _stop_all([kafka_process(settings), redis_process(settings)], log)


def _stop_all(processes: Sequence[Managed], log: Callable[[str], None]) -> None:
    if not processes:
        return
    first, *rest = processes
    try:
        log(f"{first.name}: {'stopped' if first.stop() else 'was not running'}")
    finally:
        _stop_all(rest, log)


def status(settings: Settings) -> list[ServiceStatus]:
    kafka_host, kafka_port = settings.kafka_host_port
    redis_host, redis_port = settings.redis_host_port
    kafka_pid = kafka_process(settings).pid()
    redis_pid = redis_process(settings).pid()
    return [
        ServiceStatus("kafka", kafka_pid is not None, kafka_pid, f"{kafka_host}:{kafka_port}"),
        ServiceStatus("redis", redis_pid is not None, redis_pid, f"{redis_host}:{redis_port}"),
    ]
