"""Re-evaluation without events: timers for time-driven membership, scans after rule changes.

The scheduler never writes profiles. It decides *who* needs a fresh evaluation and asks for it
through ``send(partition, customers, reason)``, which the stream layer turns into a message on the
profile's partition; the agent then evaluates inside an ordinary stream event, so table writes stay
partition-correct and durable.

* Timers: every settled profile reports its next due instant (:mod:`rules.timing`); a tick pops
  the due ones. Nothing is persisted: after a restart or a rebalance, a scan of the newly owned
  partitions recomputes every due instant from the profiles themselves.
* Scans: after a rule change (every owned partition) or an assignment (the new partitions), each
  stored profile is assessed; those whose published membership differs from what the rules say
  now are re-evaluated at once. Progress per partition is kept for ``segstream rules publish``.
  A scan for a *forced* reason (a resync, :mod:`streams.schedule.resync`) re-evaluates every
  readable profile, stale or not: Redis lost what was published, not the profiles.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field

from streams.schedule.due_index import DueIndex

log = logging.getLogger(__name__)

Send = Callable[[int, list[str], str], Awaitable[None]]
Assess = Callable[[bytes, float], tuple[bool, float | None]]
Items = Callable[[int], Iterator[tuple[bytes, bytes]]]
Count = Callable[[int], int]

SCAN_CHUNK = 500  # profiles assessed between two yields to the event loop
SEND_CHUNK = 2000  # customers per re-evaluation message


@dataclass(slots=True)
class ScanProgress:
    """One partition's scan under one rules version; done once every stale profile was redone."""

    version: str  # the rules version in force (what `rules publish` waits for)
    reason: str
    total: int
    scanned: int = 0
    stale: int = 0
    processed: int = 0
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    @property
    def done(self) -> bool:
        return self.scanned >= self.total and self.processed >= self.stale

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "done": self.done}


@dataclass(slots=True)
class SchedulerStats:
    timers_fired: int = 0
    scans_started: int = 0
    profiles_scanned: int = 0
    stale_found: int = 0


class Scheduler:
    def __init__(
        self,
        send: Send,
        assess: Assess,
        *,
        tick_s: float = 0.1,
        forced: frozenset[str] = frozenset(),
    ) -> None:
        self.due = DueIndex()
        self.progress: dict[int, ScanProgress] = {}
        self.stats = SchedulerStats()
        self._send = send
        self._assess = assess
        self._tick_s = tick_s
        self._forced = forced  # scan reasons that re-evaluate every profile
        self._scan_task: asyncio.Task[None] | None = None
        self._unscanned: set[int] = set()  # partitions the running scan has not finished

    # --- timers ------------------------------------------------------------------------------

    def settled(self, partition: int, due: dict[str, float | None]) -> None:
        """Record the due instants of the profiles just settled in ``partition``."""
        for customer, instant in due.items():
            self.due.set(partition, customer, instant)

    async def fire_due(self, now: float | None = None) -> int:
        """Ask for re-evaluation of every customer whose instant has come; how many."""
        fired = 0
        for partition, customers in self.due.pop_due(time.time() if now is None else now).items():
            await self._send_chunks(partition, customers, "elapsed")
            fired += len(customers)
        self.stats.timers_fired += fired
        return fired

    async def run_timers(self) -> None:
        while True:
            await self.fire_due()
            await asyncio.sleep(self._tick_s)

    def processed(self, partition: int, count: int, reason: str) -> None:
        """The agent re-evaluated ``count`` profiles of ``partition`` for ``reason``."""
        progress = self.progress.get(partition)
        if progress is not None and progress.reason == reason and not progress.done:
            progress.processed += count
            self._maybe_finished(partition, progress)

    # --- scans -------------------------------------------------------------------------------

    def start_scan(
        self, partitions: Iterable[int], items: Items, count: Count, version: str, reason: str
    ) -> asyncio.Task[None]:
        """Scan ``partitions`` in the background.

        A scan still running is replaced; the partitions it had not finished are scanned again
        by the new one (for their own reason), so no request is lost.
        """
        reasons = {p: self.progress[p].reason for p in self._unscanned if p in self.progress}
        if self._scan_task is not None and not self._scan_task.done():
            self._scan_task.cancel()
        reasons |= dict.fromkeys(partitions, reason)
        for partition, why in reasons.items():
            self.progress[partition] = ScanProgress(version, why, count(partition))
        self._unscanned = set(reasons)
        self.stats.scans_started += 1
        self._scan_task = asyncio.ensure_future(self._scan(sorted(reasons), items))
        return self._scan_task

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions revoked from this worker: their timers and progress are another's now."""
        gone = list(partitions)
        self.due.drop(gone)
        for partition in gone:
            self.progress.pop(partition, None)
            self._unscanned.discard(partition)

    async def _scan(self, partitions: list[int], items: Items) -> None:
        started = time.monotonic()
        for partition in partitions:
            progress = self.progress.get(partition)
            if progress is None:  # revoked meanwhile
                continue
            await self._scan_partition(partition, items(partition), progress.reason)
            self._unscanned.discard(partition)
        total = sum(self.progress[p].scanned for p in partitions if p in self.progress)
        stale = sum(self.progress[p].stale for p in partitions if p in self.progress)
        log.info(
            "scanned %d profiles of %d partition(s) in %.1fs: %d need re-evaluation",
            total,
            len(partitions),
            time.monotonic() - started,
            stale,
        )

    async def _scan_partition(
        self, partition: int, stored: Iterator[tuple[bytes, bytes]], reason: str
    ) -> None:
        progress = self.progress[partition]
        stale: list[str] = []
        now = time.time()
        for n, (key, raw) in enumerate(stored, start=1):
            customer = key.decode(errors="replace")
            try:
                is_stale, due = self._assess(raw, now)
            except ValueError as exc:  # an unreadable profile: say so, keep scanning
                log.error("profile %s in partition %d unreadable: %s", customer, partition, exc)
                continue
            finally:
                progress.scanned = n
            if is_stale or reason in self._forced:
                stale.append(customer)
            else:
                self.due.offer(partition, customer, due)
            if n % SCAN_CHUNK == 0:
                await self._flush_stale(partition, stale, reason, progress)
                await asyncio.sleep(0)  # let the agent and the timers run
                now = time.time()
        await self._flush_stale(partition, stale, reason, progress)
        progress.total = max(progress.total, progress.scanned)
        self.stats.profiles_scanned += progress.scanned
        self._maybe_finished(partition, progress)

    async def _flush_stale(
        self, partition: int, stale: list[str], reason: str, progress: ScanProgress
    ) -> None:
        if stale:
            progress.stale += len(stale)
            self.stats.stale_found += len(stale)
            await self._send_chunks(partition, list(stale), reason)
            stale.clear()

    async def _send_chunks(self, partition: int, customers: list[str], reason: str) -> None:
        for start in range(0, len(customers), SEND_CHUNK):
            await self._send(partition, customers[start : start + SEND_CHUNK], reason)

    def _maybe_finished(self, partition: int, progress: ScanProgress) -> None:
        if progress.done and progress.finished_at is None:
            progress.finished_at = time.time()
