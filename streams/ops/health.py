"""Liveness and readiness.

Live: the event loop answers. Ready: Faust has finished its first table recovery, is neither
rebalancing nor recovering now, Redis answers a PING and a Kafka broker answers a metadata request.
A load balancer or Kubernetes should send traffic (``segstream explain``) only to ready workers and
restart only workers that are not live: a worker cut off from Kafka or Redis carries on by itself
once they are back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from streams.redis_connection import REDIS_FAILURES, async_client
from streams.settings import Settings

PROBE_TIMEOUT_S = 1.0


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reasons: tuple[str, ...]  # why not ready; empty when ready

    def as_json(self) -> dict[str, Any]:
        return {"ready": self.ready, "reasons": list(self.reasons)}


def table_recovery(app: Any) -> tuple[bool, dict[str, int]]:
    """(recovering, changelog records left by kind) of a Faust app; safe before it started."""
    recovery = app.tables.recovery
    recovering = bool(app.rebalancing or app.in_recovery or not recovery.completed.is_set())
    remaining = {
        "active": _left(recovery.active_remaining()),
        "standby": _left(recovery.standby_remaining()),
    }
    return recovering, remaining


def _left(by_partition: Mapping[Any, int]) -> int:
    """Records left to read, summed over partitions. Faust measures a partition's against the
    changelog's end when its recovery began, and a standby copy goes on reading what was written
    since: its count goes below zero (-3,000 to -8,000 each with three busy workers), which
    summed with the others hid what they had left, and made the gauge negative."""
    return sum(max(0, int(count)) for count in by_partition.values())


def readiness(
    *, recovering: bool, redis_ok: bool, kafka_down_since: float | None = None
) -> Readiness:
    """``kafka_down_since``: when probes of Kafka began to fail (epoch seconds), None if it
    answers."""
    reasons = []
    if recovering:
        reasons.append("tables recovering or partitions rebalancing")
    if not redis_ok:
        reasons.append("Redis unreachable")
    if kafka_down_since is not None:
        since = datetime.fromtimestamp(kafka_down_since, UTC).isoformat(timespec="seconds")
        reasons.append(f"Kafka unreachable since {since}")
    return Readiness(not reasons, tuple(reasons))


def probe_client(settings: Settings) -> aioredis.Redis:
    """A Redis client that fails fast, apart from the writer's so probes never queue behind it."""
    return async_client(
        settings, socket_timeout_s=PROBE_TIMEOUT_S, connect_timeout_s=PROBE_TIMEOUT_S
    )


async def redis_answers(client: aioredis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except REDIS_FAILURES:
        return False


async def kafka_answers(
    servers: Sequence[str],
    timeout_s: float = PROBE_TIMEOUT_S,
    security: Mapping[str, Any] | None = None,
) -> bool:
    """Whether one of the bootstrap servers answers a metadata request within ``timeout_s``,
    connecting with ``security`` (streams.kafka_security.security_options; unset: PLAINTEXT).

    A connection of its own: the worker's clients retry behind the scenes and say nothing of
    their state that a probe could read."""
    for server in servers:
        host, _, port = server.rpartition(":")
        probe = _metadata(host.strip("[]"), int(port), timeout_s, security or {})
        try:
            await asyncio.wait_for(probe, timeout_s)
        except (KafkaError, OSError, TimeoutError):
            continue
        return True
    return False


async def _metadata(host: str, port: int, timeout_s: float, security: Mapping[str, Any]) -> None:
    conn = await create_conn(host, port, **security, request_timeout_ms=int(timeout_s * 1000))
    try:
        await conn.send(MetadataRequest([]))
    finally:
        conn.close()
