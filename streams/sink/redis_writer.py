"""Publishes membership changes to Redis: one transaction per batch, retried until Redis takes it.

Every write is idempotent (whole-hash replace, set add/remove), so a batch replayed after a crash
leaves Redis exactly as if it had been written once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT, FieldT

from streams.pipeline.batch import MembershipChange
from streams.settings import Settings
from streams.sink.redis_keys import customer_key, members_key, meta_key

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0


def connect(settings: Settings) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        settings.redis_url,
        password=settings.redis_password_text,
        socket_timeout=5,
        socket_connect_timeout=3,
    )


class RedisWriter:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self.writes = 0
        self.failures = 0

    @property
    def client(self) -> aioredis.Redis:
        return self._client

    async def publish(self, changes: Sequence[MembershipChange]) -> None:
        """Write ``changes``; on a connection error wait and retry, never drop them."""
        if not changes:
            return
        backoff = 0.1
        while True:
            try:
                await self._write(changes)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                self.failures += 1
                log.warning("Redis write failed (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            else:
                self.writes += len(changes)
                return

    async def _write(self, changes: Sequence[MembershipChange]) -> None:
        pipe = self._client.pipeline(transaction=True)
        for change in changes:
            key = customer_key(self._prefix, change.customer_id)
            pipe.delete(key)
            if change.segments:
                pipe.hset(key, mapping=_membership_fields(change))
            for segment_id in change.entered:
                pipe.sadd(members_key(self._prefix, segment_id), change.customer_id)
            for segment_id in change.exited:
                pipe.srem(members_key(self._prefix, segment_id), change.customer_id)
        pipe.hset(
            meta_key(self._prefix),
            mapping={
                "rules_version": changes[-1].rules_version,
                "updated_at": f"{time.time():.3f}",
            },
        )
        await pipe.execute()


def _membership_fields(change: MembershipChange) -> dict[FieldT, EncodableT]:
    return {
        segment_id: json.dumps(
            {
                "since": round(since, 3),
                "variant": change.variants.get(segment_id, "treatment"),
                "rules_version": change.rules_version,
            },
            separators=(",", ":"),
        )
        for segment_id, since in change.segments.items()
    }
