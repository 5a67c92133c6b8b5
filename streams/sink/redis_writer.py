"""Publishes a batch's membership changes and purchases to Redis, pipelined, retried until taken.

Each customer's hash is one call of ``write_customer.lua`` (in the customer's own slot), and the
envelope's customers are counted into their partition's aggregates by one call of
``write_partition.lua`` (in the partition's slot): with Redis Cluster every call touches one slot.
Both apply a customer's update only when its version is newer than the one they hold. The version
is the offset of the envelope (in the co-partitioned batches topic) that produced the update:
every update of a customer comes from that customer's partition, so offsets only grow; a forget
does not reset them (a profile's own event count does); and a batch replayed after a crash
carries the same offset, so the scripts leave Redis, the counters and the change feed untouched
the second time, whichever of the two calls had already been applied.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import (
    ClusterError,
    NoScriptError,
    ReadOnlyError,
    RedisClusterException,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from streams.pipeline.batch import MembershipChange, PurchaseMade
from streams.redis_connection import async_client, reply_text
from streams.settings import Settings
from streams.sink.redis_keys import (
    LAYOUT_VERSION,
    changes_key,
    customer_key,
    layout_key,
    ledger_key,
    members_key,
    meta_key,
    metrics_key,
)

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0
# What waiting cures: Redis down or slow, and a cluster between a primary's loss and its
# replica's promotion (slots uncovered, CLUSTERDOWN, TRYAGAIN, a demoted primary).
TRANSIENT = (
    RedisConnectionError, RedisTimeoutError, ClusterError, RedisClusterException, TryAgainError,
    ReadOnlyError, OSError,
)  # fmt: skip
CUSTOMER_SCRIPT = files("streams.sink").joinpath("write_customer.lua").read_text()
PARTITION_SCRIPT = files("streams.sink").joinpath("write_partition.lua").read_text()
# What EVALSHA names them by: fixed, so that concurrent batches never see one unset while
# another reloads the scripts into a Redis that lost them.
CUSTOMER_SHA = hashlib.sha1(CUSTOMER_SCRIPT.encode()).hexdigest()
PARTITION_SHA = hashlib.sha1(PARTITION_SCRIPT.encode()).hexdigest()
PARTITION_FIXED_KEYS = 3  # metrics, changes, meta; then ledgers, then member sets


def connect(settings: Settings) -> aioredis.Redis:
    return async_client(settings, socket_timeout_s=5, connect_timeout_s=3)


@dataclass(frozen=True, slots=True)
class SinkLimits:
    anonymous_ttl_s: int
    tombstone_ttl_s: int
    changes_maxlen: int  # of each partition's stream
    partitions: int = 1  # announced in the layout key, for readers to sum over

    @classmethod
    def from_settings(cls, settings: Settings) -> SinkLimits:
        partitions = settings.topic_partitions
        return cls(
            settings.redis_anonymous_ttl_s,
            settings.redis_tombstone_ttl_s,
            max(100, -(-settings.redis_changes_maxlen // partitions)),
            partitions,
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


def customer_json(update: CustomerUpdate) -> str:
    """The update as ``write_customer.lua`` reads it."""
    body: dict[str, object] = {}
    change = update.change
    if change is not None:
        body |= {
            "segments": {sid: membership_json(change, sid) for sid in change.segments},
            "reason": change.reason,
            "anonymous": change.anonymous,
            "erased": change.erased,
        }
        if change.alias_of is not None:
            body["alias_of"] = change.alias_of
    return json.dumps(body, separators=(",", ":"))


def ledger_entry(update: CustomerUpdate) -> dict[str, object]:
    """The update as ``write_partition.lua`` reads it for one customer."""
    entry: dict[str, object] = {"id": update.customer_id, "purchases": update.purchases}
    change = update.change
    if change is not None:
        entry |= {
            "segments": {sid: change.variants.get(sid, "treatment") for sid in change.segments},
            "reason": change.reason,
            "rules_version": change.rules_version,
            "model_version": change.model_version,
            "anonymous": change.anonymous,
            "erased": change.erased,
            "alias": change.alias_of is not None,
        }
    return entry


def batch_meta(changes: Sequence[MembershipChange], at: str) -> dict[str, str]:
    """What the partition's meta hash learns from a batch: the versions that decided it."""
    if not changes:
        return {}
    meta = {"rules_version": changes[-1].rules_version, "updated_at": at}
    if changes[-1].model_version:
        meta["model_version"] = changes[-1].model_version
    return meta


class RedisWriter:
    def __init__(self, client: aioredis.Redis, prefix: str, limits: SinkLimits) -> None:
        self._client = client
        self._prefix = prefix
        self._limits = limits
        self._scripts_loaded = False
        # Member sets the partition script is given: every segment this writer has published,
        # plus what the script asked for (segments of ledgers written before this process).
        self._segments: set[str] = set()
        self._cluster = isinstance(client, aioredis.RedisCluster)
        self._failed_over = False
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
        partition: int,
        version: int,
        now: float,
    ) -> None:
        """Write one batch of ``partition``; on a connection error wait and retry (versions make
        that safe)."""
        updates = customer_updates(changes, purchases)
        if not updates and not refreshed:
            return
        batch = _Batch(partition, version, f"{now:.3f}", updates, changes, refreshed)
        backoff = 0.1
        while True:
            try:
                applied = await self._write(batch)
            except NoScriptError:
                self._scripts_loaded = False  # a restart, a failover, a flush
            except TRANSIENT as exc:
                self.failures += 1
                self._failed_over |= self._cluster
                log.warning("Redis write failed (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            else:
                self.writes += applied
                self.stale += len(updates) - applied
                return

    def lost_writes(self) -> bool:
        """Whether Redis may have dropped writes it had acknowledged, since the last call.

        A Redis Cluster failover promotes a replica that may lack the primary's last writes, and
        the partitions' resync markers, written long before, survive it: so a write that failed
        on a cluster (the node gone, its slots moving) counts as a possible loss, and the worker
        resyncs its partitions (streams.schedule.resync). A standalone Redis that restarts empty
        loses the markers too, which the regular check sees."""
        lost, self._failed_over = self._failed_over, False
        return lost

    async def _load_scripts(self) -> None:
        if not self._scripts_loaded:
            for script in (CUSTOMER_SCRIPT, PARTITION_SCRIPT):
                await self._client.script_load(script)
            layout = {"version": LAYOUT_VERSION, "partitions": self._limits.partitions}
            await self._client.hset(layout_key(self._prefix), mapping=layout)  # type: ignore[arg-type]
            self._scripts_loaded = True

    async def _write(self, batch: _Batch) -> int:
        """Every call of the batch in one pipeline; the customers' results count as applied."""
        await self._load_scripts()
        limits, prefix = self._limits, self._prefix
        pipe = self._client.pipeline(transaction=False)
        for update in batch.updates:
            # execute_command: redis-py's cluster pipeline refuses its evalsha() (not EVALSHA).
            pipe.execute_command(
                "EVALSHA", CUSTOMER_SHA, 1, customer_key(prefix, update.customer_id),
                batch.version, batch.at, customer_json(update),
                limits.anonymous_ttl_s, limits.tombstone_ttl_s,
            )  # fmt: skip
        if batch.updates:
            self._queue_partition_call(pipe, batch)
        for visitor in batch.refreshed:
            pipe.expire(customer_key(prefix, visitor), limits.anonymous_ttl_s)
            pipe.expire(ledger_key(prefix, batch.partition, visitor), limits.anonymous_ttl_s)
        results = await pipe.execute(raise_on_error=True)
        customers = len(batch.updates)
        if batch.updates:
            await self._until_counted(batch, results[customers])
        return sum(1 for result in results[:customers] if result == 1)

    def _queue_partition_call(self, pipe: Any, batch: _Batch) -> None:
        prefix, limits, partition = self._prefix, self._limits, batch.partition
        for update in batch.updates:
            if update.change is not None:
                self._segments.update(update.change.segments)
        segments = sorted(self._segments)
        ledgers = [ledger_key(prefix, partition, u.customer_id) for u in batch.updates]
        first_set = PARTITION_FIXED_KEYS + len(ledgers) + 1  # Lua's KEYS count from 1
        body = {
            "customers": [ledger_entry(update) for update in batch.updates],
            "members": {segment: first_set + i for i, segment in enumerate(segments)},
            "meta": batch_meta(batch.changes, batch.at),
        }
        keys = [
            metrics_key(prefix, partition), changes_key(prefix, partition),
            meta_key(prefix, partition), *ledgers,
            *(members_key(prefix, partition, segment) for segment in segments),
        ]  # fmt: skip
        pipe.execute_command(
            "EVALSHA", PARTITION_SHA, len(keys), *keys, batch.version, batch.at,
            limits.changes_maxlen, limits.anonymous_ttl_s, limits.tombstone_ttl_s,
            json.dumps(body, separators=(",", ":")),
        )  # fmt: skip

    async def _until_counted(self, batch: _Batch, result: Any) -> None:
        """Call the partition script again while it names member sets it was not given: ledgers
        written before this process started may hold segments it has not published yet."""
        while result[0] == -1:
            asked = {reply_text(segment) for segment in result[1:]}
            log.info("declaring the member sets of %s to the partition script", sorted(asked))
            self._segments.update(asked)
            pipe = self._client.pipeline(transaction=False)
            self._queue_partition_call(pipe, batch)
            (result,) = await pipe.execute(raise_on_error=True)


@dataclass(frozen=True, slots=True)
class _Batch:
    partition: int
    version: int
    at: str
    updates: Sequence[CustomerUpdate]
    changes: Sequence[MembershipChange]
    refreshed: Sequence[str]
