"""Publishes a batch's membership changes and purchases to Redis, pipelined, retried until taken.

Each customer's update is one call of ``write_customer.lua``, which applies it only when its
version is newer than the one Redis holds. The version is the offset of the envelope (in the
co-partitioned batches topic) that produced the update: every update of a customer comes from
that customer's partition, so offsets only grow; a forget does not reset them (a profile's own
event count does); and a batch replayed after a crash carries the same offset, so the script
leaves Redis, the member counters and the change feed untouched the second time.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.resources import files

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from streams.pipeline.batch import MembershipChange, PurchaseMade
from streams.redis_connection import async_client
from streams.settings import Settings
from streams.sink.redis_keys import customer_key, history_key, meta_key

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0
WRITE_SCRIPT = files("streams.sink").joinpath("write_customer.lua").read_text()


def connect(settings: Settings) -> aioredis.Redis:
    return async_client(settings, socket_timeout_s=5, connect_timeout_s=3)


@dataclass(frozen=True, slots=True)
class SinkLimits:
    anonymous_ttl_s: int
    tombstone_ttl_s: int
    changes_maxlen: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SinkLimits:
        return cls(
            settings.redis_anonymous_ttl_s,
            settings.redis_tombstone_ttl_s,
            settings.redis_changes_maxlen,
        )


@dataclass(slots=True)
class CustomerUpdate:
    """Everything one batch publishes for one customer."""

    customer_id: str
    change: MembershipChange | None = None
    purchases: list[int] = field(default_factory=list)  # cents, in batch order


def customer_updates(
    changes: Sequence[MembershipChange], purchases: Sequence[PurchaseMade]
) -> list[CustomerUpdate]:
    """One update per customer, changes and purchases of the batch together."""
    updates: dict[str, CustomerUpdate] = {}
    for change in changes:
        updates[change.customer_id] = CustomerUpdate(change.customer_id, change)
    for purchase in purchases:
        update = updates.setdefault(purchase.customer_id, CustomerUpdate(purchase.customer_id))
        update.purchases.append(purchase.cents)
    return list(updates.values())


def membership_json(change: MembershipChange, segment_id: str) -> str:
    return json.dumps(
        {
            "since": round(change.segments[segment_id], 3),
            "variant": change.variants.get(segment_id, "treatment"),
            "rules_version": change.rules_version,
            "model_version": change.model_version,
        },
        separators=(",", ":"),
    )


def update_json(update: CustomerUpdate) -> str:
    """The update as ``write_customer.lua`` reads it."""
    body: dict[str, object] = {"purchases": update.purchases}
    change = update.change
    if change is not None:
        body |= {
            "segments": {sid: membership_json(change, sid) for sid in change.segments},
            "reason": change.reason,
            "rules_version": change.rules_version,
            "model_version": change.model_version,
            "anonymous": change.anonymous,
            "erased": change.erased,
        }
        if change.alias_of is not None:
            body["alias_of"] = change.alias_of
    return json.dumps(body, separators=(",", ":"))


class RedisWriter:
    def __init__(self, client: aioredis.Redis, prefix: str, limits: SinkLimits) -> None:
        self._client = client
        self._prefix = prefix
        self._limits = limits
        self._sha: str | None = None
        self.writes = 0
        self.stale = 0  # updates refused because Redis already held a newer (or the same) version
        self.failures = 0

    @property
    def client(self) -> aioredis.Redis:
        return self._client

    async def publish(
        self,
        changes: Sequence[MembershipChange],
        purchases: Sequence[PurchaseMade],
        refreshed: Sequence[str],
        *,
        version: int,
        now: float,
    ) -> None:
        """Write one batch; on a connection error wait and retry (versions make that safe)."""
        updates = customer_updates(changes, purchases)
        if not updates and not refreshed:
            return
        backoff = 0.1
        while True:
            try:
                applied = await self._write(updates, changes, refreshed, version, now)
            except NoScriptError:
                self._sha = None  # Redis restarted or flushed its script cache
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                self.failures += 1
                log.warning("Redis write failed (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            else:
                self.writes += applied
                self.stale += len(updates) - applied
                return

    async def _write(
        self,
        updates: Sequence[CustomerUpdate],
        changes: Sequence[MembershipChange],
        refreshed: Sequence[str],
        version: int,
        now: float,
    ) -> int:
        if self._sha is None:
            self._sha = await self._client.script_load(WRITE_SCRIPT)
        limits, prefix = self._limits, self._prefix
        pipe = self._client.pipeline(transaction=False)
        at = f"{now:.3f}"
        for update in updates:
            pipe.evalsha(
                self._sha, 0, prefix, update.customer_id, version, at, update_json(update),
                limits.anonymous_ttl_s, limits.tombstone_ttl_s, limits.changes_maxlen,
            )  # fmt: skip
        for visitor in refreshed:
            pipe.expire(customer_key(prefix, visitor), limits.anonymous_ttl_s)
            pipe.expire(history_key(prefix, visitor), limits.anonymous_ttl_s)
        if changes:
            meta = {"rules_version": changes[-1].rules_version, "updated_at": at}
            if changes[-1].model_version:
                meta["model_version"] = changes[-1].model_version
            pipe.hset(meta_key(prefix), mapping=meta)  # type: ignore[arg-type]
        results = await pipe.execute(raise_on_error=True)
        return sum(1 for result in results[: len(updates)] if result == 1)
