"""Who applies which envelope, the agent or the rebatcher: the sequencer's invariants 2, 4 and 6.

Pure logic: the store, the reader of the batches topic and the rebatcher are stand-ins, and
``apply`` records each batch (the envelopes' kinds and the version) as the worker would apply
it. Kafka and Redis are exercised by the integration tests (test_partition_alignment,
test_scale_out, test_identity, test_kill9)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

from streams.completion import Completions
from streams.ingest.envelope import Envelope, Kind, SourceRecord, pack, unpack
from streams.ingest.pacing import AgentProgress
from streams.ingest.sequencer import MAX_ENVELOPES_READ, EnvelopeSequencer
from streams.worker_stats import WorkerStats

PARTITION = 3


def envelope(kind: Kind) -> bytes:
    return pack(Envelope(kind, "events", [SourceRecord(0, 1, b"customer", b"{}")]))


class Store:
    def __init__(self, applied: int | None) -> None:
        self.applied = {PARTITION: applied}

    def applied_envelope(self, partition: int) -> int | None:
        return self.applied.get(partition)


class Topic:
    """The batches partition as Kafka holds it: offset -> envelope."""

    def __init__(self) -> None:
        self.envelopes: dict[int, bytes] = {}
        self.reads: list[range] = []

    async def first_offset(self, partition: int) -> int:
        return min(self.envelopes)

    async def read(self, partition: int, offsets: range) -> AsyncIterator[tuple[int, bytes]]:
        self.reads.append(offsets)
        for offset in offsets:
            yield offset, self.envelopes[offset]

    async def read_now(self, partition: int, offsets: range) -> dict[int, bytes]:
        """What of ``offsets`` is readable (an envelope left out stands for a read that failed)."""
        self.reads.append(offsets)
        return {offset: self.envelopes[offset] for offset in offsets if offset in self.envelopes}

    async def close(self) -> None:
        pass


class Feeder:
    feeding: frozenset[int] = frozenset()

    def follow(self, partitions: Iterable[int]) -> None:
        self.feeding = frozenset(partitions)


class Delivered:
    """aiokafka's RecordMetadata, as far as the sequencer reads it."""

    def __init__(self, offset: int) -> None:
        self.offset = offset


class World:
    """A worker whose agent and rebatcher both own PARTITION, which applied up to ``applied``."""

    def __init__(self, applied: int | None = 9) -> None:
        self.store = Store(applied)
        self.topic = Topic()
        self.stats = WorkerStats()
        self.batches: list[tuple[list[Kind], int]] = []  # (kinds, version) per batch applied
        reader: Any = self.topic  # EnvelopeReader's two methods
        self.sequencer = EnvelopeSequencer(
            apply=self.apply,
            store=self.store,
            completions=Completions(),
            reader=reader,
            pacing=AgentProgress(lambda: [PARTITION]),
            stats=self.stats,
        )
        feeder: Any = Feeder()  # the rebatcher's follow and feeding
        self.sequencer.rebatcher = feeder
        self.sequencer.recovered([PARTITION])

    async def apply(self, envelopes: list[Envelope], partition: int, version: int) -> None:
        self.batches.append(([e.kind for e in envelopes], version))
        self.store.applied[partition] = version

    def in_kafka(self, offset: int, raw: bytes) -> bytes:
        self.topic.envelopes[offset] = raw
        return raw

    def rebatcher_then_agent(self, offset: int, raw: bytes, *deliveries: tuple[int, bytes]) -> bool:
        """The rebatcher offers the envelope it sent to ``offset``, then Faust delivers
        ``deliveries`` (offset, envelope) to the agent. Whether the rebatcher applied it."""

        async def run() -> bool:
            applied = await self.sequencer.apply_local(PARTITION, offset, unpack(raw))
            for delivered_at, delivered in deliveries:
                await self.sequencer.delivered(delivered, PARTITION, delivered_at)
            return applied

        return asyncio.run(run())

    async def send_own(self, offset: int, kind: Kind) -> bytes:
        """This worker sends an envelope of its own, which Kafka puts at ``offset``."""
        raw = self.in_kafka(offset, envelope(kind))
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sequencer.sending_own(PARTITION, raw, delivery)
        delivery.set_result(Delivered(offset))
        await asyncio.sleep(0)  # its callback keeps it
        return raw


def test_the_rebatcher_applies_its_envelope_and_the_agent_skips_it() -> None:
    world = World(applied=9)
    events = world.in_kafka(10, envelope(Kind.EVENTS))
    assert world.rebatcher_then_agent(10, events, (10, events))
    assert world.batches == [([Kind.EVENTS], 10)]
    assert world.stats.envelopes_applied_locally == 1


def test_own_identity_messages_go_along_with_the_next_envelope_of_events() -> None:
    world = World(applied=9)

    async def run() -> None:
        identity = await world.send_own(10, Kind.IDENTITY)
        events = world.in_kafka(11, envelope(Kind.EVENTS))
        assert await world.sequencer.apply_local(PARTITION, 11, unpack(events))
        await world.sequencer.delivered(identity, PARTITION, 10)

    asyncio.run(run())
    assert world.batches == [([Kind.IDENTITY, Kind.EVENTS], 11)]
    assert world.topic.reads == []


def test_a_re_evaluation_keeps_a_batch_of_its_own() -> None:
    """Its progress is reported by envelope: one per batch."""
    world = World(applied=9)

    async def run() -> None:
        await world.send_own(10, Kind.REEVALUATE)
        events = world.in_kafka(11, envelope(Kind.EVENTS))
        assert await world.sequencer.apply_local(PARTITION, 11, unpack(events))

    asyncio.run(run())
    assert world.batches == [([Kind.REEVALUATE], 10), ([Kind.EVENTS], 11)]


def test_another_workers_envelopes_in_between_are_read_and_applied_in_one_batch() -> None:
    """Another worker's identity messages (its logins merged visitors whose events come here) are
    read from Kafka and go along, as this worker's own do; the agent skips all three."""
    world = World(applied=9)
    theirs = world.in_kafka(10, envelope(Kind.IDENTITY))
    also_theirs = world.in_kafka(11, envelope(Kind.IDENTITY))
    events = world.in_kafka(12, envelope(Kind.EVENTS))
    delivered = [(10, theirs), (11, also_theirs), (12, events)]
    assert world.rebatcher_then_agent(12, events, *delivered)
    assert world.batches == [([Kind.IDENTITY, Kind.IDENTITY, Kind.EVENTS], 12)]
    assert world.topic.reads == [range(10, 12)]
    assert world.stats.envelopes_read_for_rebatcher == 2
    assert world.stats.envelopes_applied_locally == 3


def test_only_other_workers_envelopes_are_read() -> None:
    world = World(applied=9)

    async def run() -> bool:
        world.in_kafka(10, envelope(Kind.IDENTITY))  # another worker's
        await world.send_own(11, Kind.IDENTITY)
        events = world.in_kafka(12, envelope(Kind.EVENTS))
        return await world.sequencer.apply_local(PARTITION, 12, unpack(events))

    assert asyncio.run(run())
    assert world.topic.reads == [range(10, 11)]
    assert world.batches == [([Kind.IDENTITY, Kind.IDENTITY, Kind.EVENTS], 12)]


def test_a_long_run_of_other_workers_envelopes_is_not_read_but_left_to_the_agent() -> None:
    """A previous owner's envelopes after a rebalance: one batch each, by the agent, rather than one
    batch of many full envelopes."""
    world = World(applied=9)
    last = 10 + MAX_ENVELOPES_READ + 1  # one more than the rebatcher reads
    for offset in range(10, last):
        world.in_kafka(offset, envelope(Kind.EVENTS))
    events = world.in_kafka(last, envelope(Kind.EVENTS))
    assert not asyncio.run(world.sequencer.apply_local(PARTITION, last, unpack(events)))
    assert world.topic.reads == []
    assert world.batches == []


def test_another_workers_envelope_that_cannot_be_read_leaves_the_rest_to_the_agent() -> None:
    """The agent then applies both in order, each once."""
    world = World(applied=9)
    identity = envelope(Kind.IDENTITY)  # in Kafka, but the rebatcher's read of it fails
    events = world.in_kafka(11, envelope(Kind.EVENTS))
    assert not world.rebatcher_then_agent(11, events, (10, identity), (11, events))
    assert world.batches == [([Kind.IDENTITY], 10), ([Kind.EVENTS], 11)]


def test_the_agent_reads_back_what_faust_did_not_deliver_before_applying() -> None:
    world = World(applied=9)
    world.in_kafka(10, envelope(Kind.IDENTITY))
    events = world.in_kafka(11, envelope(Kind.EVENTS))
    asyncio.run(world.sequencer.delivered(events, PARTITION, 11))
    assert world.topic.reads == [range(10, 11)]
    assert world.batches == [([Kind.IDENTITY], 10), ([Kind.EVENTS], 11)]
    assert world.stats.envelopes_read_back == 1


def test_a_partition_that_never_applied_anything_is_left_to_the_agent() -> None:
    """Only the agent asks Kafka where the partition starts, and applies from there."""
    world = World(applied=None)
    world.in_kafka(3, envelope(Kind.EVENTS))
    events = world.in_kafka(4, envelope(Kind.EVENTS))
    assert not world.rebatcher_then_agent(4, events, (4, events))
    assert world.batches == [([Kind.EVENTS], 3), ([Kind.EVENTS], 4)]


def test_a_redelivery_is_applied_by_neither() -> None:
    world = World(applied=11)
    events = world.in_kafka(11, envelope(Kind.EVENTS))
    assert not world.rebatcher_then_agent(11, events, (11, events))
    assert world.batches == []
    assert world.stats.envelopes_replayed == 1


def test_an_own_envelope_with_no_events_after_it_is_applied_at_the_end_of_the_next_pass() -> None:
    world = World(applied=9)
    sequencer = world.sequencer

    async def run() -> None:
        identity = await world.send_own(10, Kind.IDENTITY)
        agent = asyncio.ensure_future(sequencer.delivered(identity, PARTITION, 10))
        await asyncio.sleep(0.01)  # the agent leaves it to the next pass
        assert world.batches == []
        own = sequencer.begin_pass()
        await sequencer.end_pass(own)
        await asyncio.wait_for(agent, 0.5)

    asyncio.run(run())
    assert world.batches == [([Kind.IDENTITY], 10)]
    assert world.stats.own_envelopes_left_to_rebatcher == 1


def test_nothing_is_applied_locally_in_a_partition_the_agent_does_not_own() -> None:
    world = World(applied=9)
    world.sequencer.revoking()
    events = world.in_kafka(10, envelope(Kind.EVENTS))
    assert not asyncio.run(world.sequencer.apply_local(PARTITION, 10, unpack(events)))
    assert world.batches == []
    assert world.stats.envelopes_made_for_unowned_partitions == 1
