"""The local dev stack without Docker: Kafka (KRaft, jars from Maven Central) and Redis, loopback.

``up`` starts what is not running and waits until both answer; run twice, it only reports.
``down`` stops only what ``up`` started, known by the pid files in the stack dir, and never a
process that merely reuses a recorded pid. ``status`` reports both without changing anything.

Kafka listens on the first ``SEGSTREAM_KAFKA_BOOTSTRAP`` entry and its KRaft controller on
127.0.0.1 at that port + 1; Redis on the host and port of ``SEGSTREAM_REDIS_URL``. Kafka's jars are
cached in ``SEGSTREAM_CACHE_DIR``, shared by every checkout; data, logs and pid files live in
``SEGSTREAM_STACK_DIR``, one per checkout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from streams.devstack.errors import StackError
from streams.devstack.kafka import (
    check_kafka,
    kafka_process,
    prepare_kafka,
    wait_until_kafka_answers,
)
from streams.devstack.network import port_is_free
from streams.devstack.processes import ManagedProcess, stack_root
from streams.devstack.redis_server import (
    check_redis,
    prepare_redis,
    redis_process,
    wait_until_redis_answers,
)
from streams.settings import Settings

__all__ = ["ServiceStatus", "StackError", "down", "status", "up"]

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One server of the stack as ``up`` left it or ``status`` found it."""

    name: str
    running: bool
    pid: int | None
    address: str
    detail: str


@dataclass(frozen=True, slots=True)
class _Service:
    process: ManagedProcess
    check: Callable[[Settings, Log], None]  # quick, before anything is downloaded or started
    prepare: Callable[[Settings, Log], list[str]]  # returns the command that runs the server
    wait_until_ready: Callable[[Settings, Callable[[], bool]], None]


def up(settings: Settings, *, log: Log = print) -> list[ServiceStatus]:
    """Start Kafka and Redis unless ours already run; return once both answer.

    Loopback hosts, free ports, ``java`` and ``redis-server`` are all checked before Kafka's jars
    are downloaded or anything starts, so a refusal leaves nothing half-started. Idempotent.
    Raises StackError.
    """
    services = _services(settings)
    to_start = [service for service in services if not _ours_running(service, settings)]
    for service in to_start:
        service.process.forget_stale()
        service.check(settings, log)
    commands = {service.process.name: service.prepare(settings, log) for service in to_start}
    return [
        _bring_up(service, commands.get(service.process.name), settings, log)
        for service in services
    ]


def down(settings: Settings, *, log: Log = print) -> None:
    """Stop the servers ``up`` started: SIGTERM, up to 20 s, then SIGKILL. Idempotent.

    Only pids recorded in this stack dir's pid files are signalled, and only while they still
    belong to the program recorded there. Raises StackError if a server outlives SIGKILL.
    """
    failures: list[StackError] = []
    for service in _services(settings):
        name = service.process.name
        try:
            stopped = service.process.stop()
        except StackError as exc:  # still stop the other one
            failures.append(exc)
            continue
        log(f"{name}: stopped (pid {stopped.pid})" if stopped else f"{name}: not running")
    if failures:
        raise failures[0]


def status(settings: Settings) -> list[ServiceStatus]:
    """Whether each server of this checkout's stack runs, with its pid, address and log."""
    return [_status_of(service.process) for service in _services(settings)]


def _services(settings: Settings) -> list[_Service]:
    return [
        _Service(
            process=kafka_process(settings),
            check=lambda s, _log: check_kafka(s),
            prepare=lambda s, log: prepare_kafka(s, log=log),
            wait_until_ready=wait_until_kafka_answers,
        ),
        _Service(
            process=redis_process(settings),
            check=lambda s, log: check_redis(s, log=log),
            prepare=lambda s, log: prepare_redis(s, log=log),
            wait_until_ready=wait_until_redis_answers,
        ),
    ]


def _ours_running(service: _Service, settings: Settings) -> bool:
    process = service.process
    record = process.running()
    if record is not None and record.address != process.address:
        raise StackError(
            f"{process.name} of this stack dir ({stack_root(settings)}) already runs on "
            f"{record.address}, not {process.address}: run `segstream dev down` first"
        )
    return record is not None


def _bring_up(
    service: _Service, command: list[str] | None, settings: Settings, log: Log
) -> ServiceStatus:
    process = service.process
    if command is None:
        return _confirm_running(service, settings, log)
    started = time.monotonic()
    child = process.start(command, cwd=stack_root(settings))
    try:
        service.wait_until_ready(settings, lambda: child.poll() is None)
    except BaseException:
        process.stop()  # half-started: it must not hold the port for the next attempt
        raise
    took = time.monotonic() - started
    log(f"{process.name}: started on {process.address} (pid {child.pid}) in {took:.1f}s")
    return ServiceStatus(process.name, True, child.pid, process.address, f"started in {took:.1f}s")


def _confirm_running(service: _Service, settings: Settings, log: Log) -> ServiceStatus:
    process = service.process
    record = process.running()
    pid = record.pid if record else None
    # A previous `up` may have been interrupted while this server was still starting.
    service.wait_until_ready(settings, lambda: process.running() is not None)
    log(f"{process.name}: already running on {process.address} (pid {pid})")
    return ServiceStatus(process.name, True, pid, process.address, "already running")


def _status_of(process: ManagedProcess) -> ServiceStatus:
    record = process.running()
    if record is not None:
        return ServiceStatus(
            process.name, True, record.pid, record.address, f"log: {process.log_path}"
        )
    if not port_is_free(process.host, process.port):
        detail = "not running; its port is taken by another process"
    elif process.has_stale_pid_file():
        detail = "not running (stale pid file)"
    else:
        detail = "not running"
    return ServiceStatus(process.name, False, None, process.address, detail)
