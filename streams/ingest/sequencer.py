"""Who applies which envelope of a batches partition, and when: the worker's envelope sequencing.

Two paths apply envelopes in a worker: its Faust agent, for every envelope Faust delivers, and its
rebatcher (:mod:`streams.ingest.rebatcher`), for the envelopes it just sent to partitions this
worker's agent owns. This class is the only place that decides between them. Its invariants:

1. **One envelope at a time.** The agent and the rebatcher apply under one lock; a rebalance waits
   for it too, so it never clears what an envelope is still writing.
2. **Each envelope once, in offset order.** A partition's store records the last envelope applied
   (written after its profiles reach the changelog); an envelope at or before it is a replay and is
   skipped; one after a gap is applied only after the gap is read back from Kafka
   (:mod:`streams.ingest.sequence`).
3. **In Kafka first.** An envelope is applied only once the broker acknowledged it, so its offset
   versions its Redis writes, the changelog can name it, and a crash replays it. Faust may commit
   an envelope the rebatcher applied before its completion ended: applied means in Kafka.
4. **The rebatcher applies only where the agent would**: in partitions the agent owns and has
   recovered (``local``), and only after every envelope between the last one applied and this
   one, in one batch with them: this worker's own as it kept them (:class:`OwnEnvelopes`), other
   workers' read from Kafka. Otherwise (nothing applied there yet, or a read failed) it leaves the
   envelope to the agent.
5. **The rebatcher reads exactly the local partitions** (:meth:`Rebatcher.follow`): none from a
   revocation until recovery ends, then the recovered ones; so every envelope is applied by the
   worker that made it while the assignment holds still.
6. **This worker's own envelopes** (identity messages, re-evaluations) go along with the next
   envelope of events of their partition, or at the end of the rebatcher's pass if none came; the
   agent waits for that pass at most ``OWN_ENVELOPE_WAIT_S`` before applying them itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from streams.completion import Completions
from streams.ingest.envelope import Envelope, Kind, unpack
from streams.ingest.pacing import AgentProgress
from streams.ingest.rebatcher import Rebatcher
from streams.ingest.sequence import (
    EnvelopeReader,
    OwnEnvelopes,
    Passes,
    already_applied,
    missed_envelopes,
)
from streams.worker_stats import WorkerStats

log = logging.getLogger(__name__)

# The agent leaves an envelope this worker sent to the rebatcher's next pass for at most this long
# (a pass on a backlog applies up to SEGSTREAM_BATCH_MAX_EVENTS events).
OWN_ENVELOPE_WAIT_S = 1.0
# The rebatcher reads at most this many envelopes of other workers to apply before its own (one
# per other worker and round is usual: their identity messages); a longer gap goes to the agent.
MAX_ENVELOPES_READ = 16

ApplyEnvelopes = Callable[[list[Envelope], int, int], Awaitable[None]]


class AppliedRecord(Protocol):
    def applied_envelope(self, partition: int) -> int | None:
        """The last envelope applied in ``partition`` (its store's record)."""


class EnvelopeSequencer:
    """Applies each envelope once and in order, by the agent or by the rebatcher (see above).

    ``apply(envelopes, partition, version)`` applies envelopes of one partition as one batch."""

    def __init__(
        self,
        *,
        apply: ApplyEnvelopes,
        store: AppliedRecord,
        completions: Completions,
        reader: EnvelopeReader,
        pacing: AgentProgress,
        stats: WorkerStats,
    ) -> None:
        self._apply = apply
        self._store = store
        self._completions = completions
        self._reader = reader
        self._pacing = pacing
        self._stats = stats
        self.rebatcher: Rebatcher | None = None  # set once the rebatcher exists (it calls back)
        self._applying = asyncio.Lock()
        self.local: set[int] = set()  # recovered partitions the rebatcher may apply in
        self._applied_locally: dict[int, int] = {}  # partition -> last offset the rebatcher applied
        self._own_envelopes = OwnEnvelopes()  # sent by this worker, for the rebatcher to apply
        self._passes = Passes()  # the rebatcher's, which the agent may leave own envelopes to

    # --- the assignment --------------------------------------------------------------------------

    def revoking(self) -> None:
        """At once when partitions are revoked or assigned: until recovery ends only the agent
        applies, and another worker's rebatcher may read these partitions now."""
        self.local.clear()  # recovery of the new assignment may end before the lock is free
        self._feeder().follow(())

    async def forget(self, also: Callable[[], None]) -> None:
        """Once every write of this worker reached the table: drop what belonged to the old
        assignment, and run ``also`` (the caller's caches) under the same lock."""
        async with self._applying:
            await self._completions.wait_all()
            also()
            self._own_envelopes.clear()
            self._applied_locally.clear()

    def recovered(self, active: Iterable[int]) -> None:
        """The agent's partitions have recovered: the rebatcher reads and applies in them."""
        self.local = set(active)
        self._feeder().follow(self.local)

    # --- the agent -------------------------------------------------------------------------------

    async def delivered(self, raw: bytes, partition: int, offset: int) -> None:
        """Faust delivered this envelope to the agent."""
        if own := self._left_to_rebatcher(partition, offset):
            # Sent by this worker (a login's merge, a timer): the rebatcher's next pass applies it
            # with its partition's next envelope of events, one batch where the agent would make
            # two (each with its Redis and changelog round trips).
            await self._passes.next_ended(OWN_ENVELOPE_WAIT_S)
        if offset <= self._applied_locally.get(partition, -1):
            # Skipped without the lock: waiting there for the partition's completion held the
            # rebatcher up. Applied means in Kafka, so nothing is lost if Faust commits it first.
            self._stats.envelopes_applied_locally += 1
            if own:
                self._stats.own_envelopes_left_to_rebatcher += 1
            return
        async with self._applying:
            await self._take_envelope(raw, partition, offset)
            self._own_envelopes.forget_through(partition, offset)
        self._pacing.handled(partition, offset)

    def _left_to_rebatcher(self, partition: int, offset: int) -> bool:
        """Whether the agent leaves this envelope to the rebatcher: one this worker sent, in a
        partition whose events this worker's rebatcher reads. Where another worker's rebatcher
        sends the events, none of them takes it along, and waiting for a pass to end only held
        the agent (and the other partitions' envelopes behind it) up."""
        return (
            partition in self.local
            and partition in self._feeder().feeding
            and self._own_envelopes.holds(partition, offset)
        )

    async def _take_envelope(self, raw: bytes, partition: int, offset: int) -> None:
        """Apply this envelope once, after any of its partition's earlier ones that Faust did not
        deliver (see streams.ingest.sequence)."""
        await self._completions.wait(partition)  # the store must hold the partition's last one
        applied = self._store.applied_envelope(partition)
        if already_applied(applied, offset):
            self._stats.envelopes_replayed += 1
            return
        # Only a partition that never applied anything needs Kafka to say where it starts.
        first = offset
        if applied is None and offset > 0:
            first = await self._reader.first_offset(partition)
        missed = missed_envelopes(applied, offset, first)
        if missed:
            log.warning(
                "envelopes %s..%s of partition %s were not delivered: reading them back",
                missed.start, missed.stop - 1, partition,
            )  # fmt: skip
            self._stats.envelopes_read_back += len(missed)
            async for missed_offset, missed_raw in self._reader.read(partition, missed):
                await self._apply([unpack(missed_raw)], partition, missed_offset)
        # The envelope's offset versions every Redis write it causes (see redis_writer).
        await self._apply([unpack(raw)], partition, offset)

    # --- the rebatcher (streams.ingest.rebatcher.LocalApplier) -----------------------------------

    async def apply_local(self, partition: int, offset: int, envelope: Envelope) -> bool:
        """Apply an envelope the rebatcher just sent, if this worker's agent owns its partition
        (recovered) and every envelope between the last one applied there and this one is one
        this worker sent (applied first, in order); else leave it to the agent. True if applied.

        ``envelope`` is what the rebatcher packed at ``offset``: the bytes in Kafka, unpacked."""
        async with self._applying:
            if partition not in self.local:
                self._stats.envelopes_made_for_unowned_partitions += 1
                return False
            self._completions.raise_failed()
            await self._completions.wait(partition)
            await self._own_envelopes.delivered(partition)  # else the agent would have to wait
            applied = self._store.applied_envelope(partition)
            between = await self._between(partition, applied, offset)
            if between is None:
                return False
            await self._apply_in_order(partition, [*_unpacked(between), (offset, envelope)])
            return True

    def begin_pass(self) -> Mapping[int, int]:
        """The pass's share of this worker's own envelopes: those the agent leaves to it."""
        self._passes.begin()
        feeding = self._feeder().feeding
        return {p: last for p, last in self._own_envelopes.latest().items() if p in feeding}

    async def end_pass(self, own: Mapping[int, int]) -> None:
        """Apply the envelopes this worker sent that were waiting when the rebatcher's pass began
        and that no envelope of events took along (none came for their partition)."""
        try:
            for partition, last in own.items():
                await self._apply_own(partition, last)
        finally:
            self._passes.end()

    async def _apply_own(self, partition: int, last: int) -> None:
        if self._applied_locally.get(partition, -1) >= last:
            return  # taken along by an envelope of events: no need to wait for its completion
        async with self._applying:
            if partition not in self.local:
                return
            self._completions.raise_failed()
            await self._completions.wait(partition)
            applied = self._store.applied_envelope(partition)
            if applied is not None and applied >= last:
                return  # applied by the agent
            between = await self._between(partition, applied, last + 1)
            # None: nothing was applied here yet (the agent then reads the partition from its
            # start), or another worker's envelope among them could not be read: the agent
            # applies them.
            if between:
                await self._apply_in_order(partition, _unpacked(between))

    async def _between(
        self, partition: int, applied: int | None, offset: int
    ) -> list[tuple[int, bytes]] | None:
        """The envelopes after ``applied`` and before ``offset``: this worker's own as it kept
        them, other workers' read from Kafka (identity messages of their logins); None when
        nothing was applied here yet or one could not be read.

        With two workers, nine in ten envelopes of events had another worker's identity message
        before them; left to the agent, each of those became a batch of its own and the envelope
        after it another (two workers took 107-120 us of CPU per event, 75-83 once read here).
        A longer run of others' envelopes (a previous owner's, after a rebalance) stays with the
        agent, one batch each, rather than become one batch of up to that many full envelopes."""
        span = self._own_envelopes.not_sent(partition, applied, offset)
        if len(span) > MAX_ENVELOPES_READ:
            return None
        others = await self._reader.read_now(partition, span) if span else {}
        self._stats.envelopes_read_for_rebatcher += len(others)
        return self._own_envelopes.between(partition, applied, offset, others)

    async def close(self) -> None:
        """The rebatcher stopped: release what reading other workers' envelopes holds."""
        await self._reader.close()

    async def _apply_in_order(self, partition: int, envelopes: list[tuple[int, Envelope]]) -> None:
        """Apply envelopes of one partition, (offset, envelope) in order, as the rebatcher.

        Identity messages come with a login: one batch with what follows them saves a completion
        (Redis and changelog round trips) each. Re-evaluations keep their own batch."""
        last = envelopes[-1][0]
        if any(envelope.kind == Kind.REEVALUATE for _, envelope in envelopes):
            for offset, envelope in envelopes:
                await self._apply([envelope], partition, offset)
        else:
            await self._apply([envelope for _, envelope in envelopes], partition, last)
        self._applied_locally[partition] = last
        self._own_envelopes.forget_through(partition, last)

    # --- this worker's own envelopes -------------------------------------------------------------

    def sending_own(self, partition: int, envelope: bytes, delivery: Any) -> None:
        """An envelope of this worker's own is on its way to ``partition``: kept for the rebatcher
        to apply if the partition is applied here."""
        if partition in self.local:
            self._own_envelopes.sending(partition, envelope, delivery)

    def _feeder(self) -> Rebatcher:
        assert self.rebatcher is not None, "the worker wires its rebatcher in at start"
        return self.rebatcher


def _unpacked(pending: Iterable[tuple[int, bytes]]) -> list[tuple[int, Envelope]]:
    return [(offset, unpack(raw)) for offset, raw in pending]
