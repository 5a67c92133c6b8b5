"""The worker's profile store holds a batch's writes back until Redis has the batch; they then go
to the changelog and, once Kafka acknowledged them, to the partition's local store."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from streams.durable import write_and_wait
from streams.table_store import FaustTableStore
from streams.topics import APPLIED_ENVELOPE_KEY

CHANGELOG = "app-profiles-changelog"


@dataclass
class Delivered:
    offset: int


class PartitionDatabase(dict[bytes, bytes]):
    def put(self, key: bytes, value: bytes) -> None:
        self[key] = value

    def delete(self, key: bytes) -> None:
        self.pop(key, None)


class RecordingStore(dict[bytes, bytes]):
    """A Faust RocksDB store's parts: reads by the current event, partition databases, offsets."""

    def __init__(self, data: dict[bytes, bytes]) -> None:
        super().__init__(data)
        self._dbs = {3: PartitionDatabase(data)}
        self.persisted: dict[TP, int] = {}

    def get(self, key: bytes, default: Any = None) -> Any:
        return self._dbs[3].get(key, default)

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        self.persisted[tp] = offset


class RecordingTable:
    """The parts of a Faust table the store uses; its producer's sends resolve only when the test
    delivers them."""

    def __init__(self, data: dict[bytes, bytes]) -> None:
        self.data = RecordingStore(data)
        self.sent: list[tuple[str, bytes, bytes | None, int, asyncio.Future[Delivered]]] = []
        self.changelog_topic = SimpleNamespace(get_topic_name=lambda: CHANGELOG)
        self.app = SimpleNamespace(producer=SimpleNamespace(send=self._send))

    async def _send(
        self, topic: str, key: bytes, value: bytes | None, partition: int, *_: Any
    ) -> Any:
        delivery: asyncio.Future[Delivered] = asyncio.get_running_loop().create_future()
        self.sent.append((topic, key, value, partition, delivery))
        return delivery

    def deliver(self) -> None:
        for offset, (*_, delivery) in enumerate(self.sent, start=40):
            delivery.set_result(Delivered(offset))


async def sending(
    table: RecordingTable, writes: dict[bytes, bytes | None]
) -> asyncio.Future[None]:
    """Start writing partition 3 and let it send its records; Kafka answers on table.deliver()."""
    flushing = asyncio.ensure_future(write_and_wait(table, 3, writes))
    await asyncio.sleep(0.01)
    return flushing


def test_writes_reach_the_changelog_then_the_store_and_reads_see_them_before() -> None:
    async def scenario() -> None:
        table = RecordingTable({b"gone": b"old", b"kept": b"v0"})
        store = FaustTableStore(table)
        store.save("kept", b"v1", None)
        store.delete("gone", None)
        assert (store.load("kept", None), store.load("gone", None)) == (b"v1", None)
        writes = store.take_writes(applied_envelope=17)
        assert store.pending == {}
        flushing = await sending(table, writes)
        assert [(t, k, v, p) for t, k, v, p, _ in table.sent] == [
            (CHANGELOG, b"kept", b"v1", 3),
            (CHANGELOG, b"gone", None, 3),
            (CHANGELOG, APPLIED_ENVELOPE_KEY, b"17", 3),  # last: once it is there, all are
        ]
        # Until Kafka has the records, the store holds nothing the changelog may lack.
        assert dict(table.data._dbs[3]) == {b"gone": b"old", b"kept": b"v0"}
        assert not flushing.done()
        table.deliver()
        await asyncio.wait_for(flushing, timeout=1)
        assert dict(table.data._dbs[3]) == {b"kept": b"v1", APPLIED_ENVELOPE_KEY: b"17"}
        assert table.data.persisted == {TP(CHANGELOG, 3): 42}

    asyncio.run(scenario())


def test_a_failed_batch_leaves_the_table_untouched() -> None:
    async def scenario() -> None:
        table = RecordingTable({b"c1": b"v0"})
        store = FaustTableStore(table)
        store.save("c1", b"half-applied", None)
        store.discard()
        flushing = await sending(table, store.take_writes(5))
        assert [key for _, key, *_ in table.sent] == [APPLIED_ENVELOPE_KEY]
        table.deliver()
        await flushing
        assert table.data._dbs[3][b"c1"] == b"v0"

    asyncio.run(scenario())


def test_a_partition_revoked_before_kafka_answered_keeps_its_store_as_it_was() -> None:
    async def scenario() -> None:
        table = RecordingTable({b"c1": b"v0"})
        store = FaustTableStore(table)
        store.save("c1", b"v1", None)
        flushing = await sending(table, store.take_writes(8))
        revoked = table.data._dbs.pop(3)  # Faust closes a revoked partition's database
        table.deliver()
        await flushing
        assert revoked == {b"c1": b"v0"}  # its changelog is the truth for the next owner
        assert table.data.persisted == {}

    asyncio.run(scenario())
