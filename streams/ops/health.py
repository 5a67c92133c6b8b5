"""Liveness and readiness.

Live: the event loop answers. Ready: Faust has finished its first table recovery, is neither
rebalancing nor recovering now, and Redis answers a PING. A load balancer or Kubernetes should send
traffic (``segstream explain``) only to ready workers and restart only workers that are not live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

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
        "active": int(recovery.active_remaining_total()),
        "standby": int(recovery.standby_remaining_total()),
    }
    return recovering, remaining


def readiness(*, recovering: bool, redis_ok: bool) -> Readiness:
    reasons = []
    if recovering:
        reasons.append("tables recovering or partitions rebalancing")
    if not redis_ok:
        reasons.append("Redis unreachable")
    return Readiness(not reasons, tuple(reasons))


def probe_client(settings: Settings) -> aioredis.Redis:
    """A Redis client that fails fast, apart from the writer's so probes never queue behind it."""
    return aioredis.Redis.from_url(
        settings.redis_url,
        password=settings.redis_password_text,
        socket_timeout=PROBE_TIMEOUT_S,
        socket_connect_timeout=PROBE_TIMEOUT_S,
    )


async def redis_answers(client: aioredis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
