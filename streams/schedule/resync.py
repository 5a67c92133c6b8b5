"""Resync: rebuild a partition's customers in Redis after Redis lost them.

Redis is written only when a customer's membership changes, so a Redis restarted empty, a
``FLUSHALL`` or a failover that dropped writes would leave unchanged customers missing until they
act again. Each partition therefore has a marker in Redis, ``{prefix}:partition:{P}:epoch``
(:func:`streams.sink.redis_keys.partition_epoch_key`), that says "every customer of P is here":

* The owner of a partition checks its marker every ``SEGSTREAM_RESYNC_CHECK_INTERVAL_S``. Missing
  (lost with the data, or deleted by ``segstream resync``), or left ``resyncing`` by a resync
  that is not this worker's own (its worker died, or lost the partition): the worker marks it
  ``resyncing`` under a fresh token and scans the partition's profiles with the ``resync``
  reason, which re-evaluates every profile and publishes its whole membership, changed or not,
  versioned by the re-evaluation envelope's offset like any write.
* Once the scan's re-evaluations are applied and their Redis writes done, the marker becomes
  ``done``, but only if it still holds this worker's ``resyncing`` token (compare-and-set in one
  script): if Redis lost it again meanwhile, the next check starts over instead.
* A new deployment has no marker either: its partitions hold no profiles, so the first resync is
  a scan of nothing, done at once. A deployment upgraded from a version without markers rewrites
  every customer once (what a resync costs: see bench/resync.py), which changes nothing that was
  already right (the sink script compares with what Redis holds).

Everything a resync writes is idempotent, so starting one twice, or again after a crash, is safe.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis

from streams.redis_connection import REDIS_FAILURES
from streams.schedule.scheduler import ScanProgress
from streams.sink.redis_keys import LAYOUT_VERSION, layout_key, partition_epoch_key
from streams.worker_stats import WorkerStats

log = logging.getLogger(__name__)

RESYNCING = "resyncing"
DONE = "done"

# Sets the marker to its done value only while it still holds the resyncing value given.
FINISH_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Marker:
    state: str  # resyncing | done
    token: str  # the resync that wrote it
    at: float  # when (epoch s)

    def encode(self) -> str:
        return json.dumps({"state": self.state, "token": self.token, "at": round(self.at, 3)})

    @classmethod
    def decode(cls, raw: bytes | str | None) -> Marker | None:
        """The marker, or None when it is missing or unreadable (both mean: resync)."""
        if raw is None:
            return None
        try:
            fields = json.loads(raw)
            return cls(str(fields["state"]), str(fields["token"]), float(fields["at"]))
        except (ValueError, TypeError, KeyError):
            return None


def needs_resync(marker: Marker | None, own_token: str | None) -> bool:
    """Whether a partition must be resynced, given its marker and this worker's running resync.

    >>> needs_resync(None, None)  # lost, deleted, or never written
    True
    >>> needs_resync(Marker(DONE, "a", 0.0), None)
    False
    >>> needs_resync(Marker(RESYNCING, "a", 0.0), "a")  # this worker's own, still running
    False
    >>> needs_resync(Marker(RESYNCING, "a", 0.0), None)  # left by a worker that is gone
    True
    """
    if marker is None:
        return True
    return marker.state != DONE and marker.token != own_token


class MarkerStore(Protocol):
    """Where the markers live (Redis; a dict in unit tests)."""

    async def read(self, partitions: list[int]) -> dict[int, Marker | None]: ...

    async def begin(self, partition: int, marker: Marker) -> None: ...

    async def finish(self, partition: int, running: Marker, done: Marker) -> bool: ...


class RedisMarkers:
    def __init__(self, client: aioredis.Redis, prefix: str, partitions: int) -> None:
        self._client = client
        self._prefix = prefix
        self._layout = {"version": LAYOUT_VERSION, "partitions": partitions}

    async def read(self, partitions: list[int]) -> dict[int, Marker | None]:
        if not partitions:
            return {}
        pipe = self._client.pipeline(transaction=False)
        for partition in partitions:  # not MGET: in Redis Cluster each marker has its own slot
            pipe.get(partition_epoch_key(self._prefix, partition))
        values = await pipe.execute()
        return {p: Marker.decode(v) for p, v in zip(partitions, values, strict=True)}

    async def begin(self, partition: int, marker: Marker) -> None:
        """Mark the partition; and announce the layout again, which a loss took with it."""
        await self._client.hset(layout_key(self._prefix), mapping=self._layout)  # type: ignore[arg-type]
        await self._client.set(partition_epoch_key(self._prefix, partition), marker.encode())

    async def finish(self, partition: int, running: Marker, done: Marker) -> bool:
        key = partition_epoch_key(self._prefix, partition)
        finished = self._client.eval(FINISH_SCRIPT, 1, key, running.encode(), done.encode())
        return bool(await finished)


class Resyncer:
    """Decides, per owned partition, when to start a resync and when it is over.

    ``written(partition)`` returns once the partition's pending Redis writes are done (the
    agent's completions), so a marker is never ``done`` before the writes it vouches for.
    """

    def __init__(
        self,
        markers: MarkerStore,
        stats: WorkerStats,
        written: Callable[[int], Awaitable[None]],
        reason: str,
        lost_writes: Callable[[], bool] = lambda: False,
    ) -> None:
        self._markers = markers
        self._lost_writes = lost_writes
        # A possible loss is read once from the writer: kept until its resyncs have begun, so a
        # check that fails (Redis still failing over) does not forget it.
        self._loss_pending = False
        self._stats = stats
        self._written = written
        self._reason = reason
        self.running: dict[int, Marker] = {}  # partition -> this worker's resyncing marker

    async def check(
        self, owned: Collection[int], progress: Mapping[int, ScanProgress]
    ) -> list[int]:
        """Finish the resyncs that are done; the partitions to resync now (already marked)."""
        try:
            await self._finish_done(owned, progress)
            return await self._begin_needed(owned)
        except REDIS_FAILURES as exc:  # Redis down or restarting: look again next tick
            log.warning("could not check resync markers in Redis: %s", exc)
            return []

    async def _finish_done(
        self, owned: Collection[int], progress: Mapping[int, ScanProgress]
    ) -> None:
        for partition, running in list(self.running.items()):
            scan = progress.get(partition)
            if partition not in owned or scan is None or scan.reason != self._reason:
                # Revoked, or replaced by another scan: the marker stays "resyncing", not ours
                # any more, so whoever owns the partition next resyncs it again.
                del self.running[partition]
                continue
            if not scan.done or not await self._writes_done(partition):
                continue
            del self.running[partition]
            done = Marker(DONE, running.token, time.time())
            if await self._markers.finish(partition, running, done):
                completed = self._stats.resyncs_completed
                completed[partition] = completed.get(partition, 0) + 1
                log.info("partition %d resynced: %d customers rewritten", partition, scan.stale)
            else:
                log.warning("partition %d: Redis lost its marker during the resync", partition)

    async def _writes_done(self, partition: int) -> bool:
        try:
            await self._written(partition)
        except Exception as exc:  # the agent raises it too; the next check tries again
            log.warning("partition %d: a write failed before the resync's end: %s", partition, exc)
            return False
        return True

    async def _begin_needed(self, owned: Collection[int]) -> list[int]:
        self._loss_pending |= self._lost_writes()
        if self._loss_pending:
            # Writes Redis acknowledged may be gone (a failover promotes a replica that had not
            # received them) while the markers, written long before, survived: resync all.
            log.warning("Redis may have lost acknowledged writes: resyncing every partition")
            self.running.clear()
            starting = await self._begin(sorted(owned))
            self._loss_pending = False
            return starting
        idle = sorted(p for p in owned if p not in self.running)
        markers = await self._markers.read(idle)
        return await self._begin([p for p in idle if needs_resync(markers.get(p), None)])

    async def _begin(self, starting: list[int]) -> list[int]:
        for partition in starting:
            marker = Marker(RESYNCING, uuid.uuid4().hex, time.time())
            await self._markers.begin(partition, marker)
            self.running[partition] = marker
            started = self._stats.resyncs_started
            started[partition] = started.get(partition, 0) + 1
        if starting:
            log.info("resyncing partition(s) %s", starting)
        return starting
