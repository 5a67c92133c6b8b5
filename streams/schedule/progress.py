"""Scan progress in Redis, so `segstream rules publish` can follow a rollout across workers."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict
from typing import cast

import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from rules.active import ActiveRules
from streams.redis_connection import REDIS_FAILURES
from streams.schedule.scheduler import ScanProgress
from streams.sink.redis_keys import rollout_key

log = logging.getLogger(__name__)

REJECTED_FIELD = "rejected"  # the last rules version a worker refused, with the problems


class ProgressReporter:
    """Writes each partition's scan progress when it changed since the last report."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._key = rollout_key(prefix)
        self._reported: dict[str, str] = {}

    async def report(self, progress: Mapping[int, ScanProgress], rules: ActiveRules) -> None:
        changed: dict[str, str] = {}
        for partition, state in progress.items():
            value = json.dumps({**state.as_dict(), "active_version": rules.current.version})
            if self._reported.get(str(partition)) != value:
                changed[str(partition)] = value
        rejected = rules.rejected
        refusal = json.dumps(asdict(rejected)) if rejected else ""
        if self._reported.get(REJECTED_FIELD) != refusal:
            changed[REJECTED_FIELD] = refusal  # empty once a good version supersedes it
        if not changed:
            return
        mapping = cast(dict[FieldT, EncodableT], changed)  # str keys and values are both
        try:
            await self._client.hset(self._key, mapping=mapping)
        except REDIS_FAILURES as exc:  # progress is advisory: try again next tick
            log.warning("could not report rollout progress to Redis: %s", exc)
            return
        self._reported.update(changed)
