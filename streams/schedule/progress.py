"""Scan progress in Redis, so `segstream rules publish` can follow a rollout across workers."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from streams.schedule.scheduler import ScanProgress
from streams.sink.redis_keys import rollout_key

log = logging.getLogger(__name__)


class ProgressReporter:
    """Writes each partition's scan progress when it changed since the last report."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._key = rollout_key(prefix)
        self._reported: dict[int, str] = {}

    async def report(self, progress: Mapping[int, ScanProgress], active_version: str) -> None:
        changed: dict[int, str] = {}
        for partition, state in progress.items():
            value = json.dumps({**state.as_dict(), "active_version": active_version})
            if self._reported.get(partition) != value:
                changed[partition] = value
        if not changed:
            return
        mapping: dict[FieldT, EncodableT] = {str(p): v for p, v in changed.items()}
        try:
            await self._client.hset(self._key, mapping=mapping)
        except (RedisError, OSError) as exc:  # progress is advisory: try again next tick
            log.warning("could not report rollout progress to Redis: %s", exc)
            return
        self._reported.update(changed)
