"""The worker's profile store holds a batch's writes back until Redis has the batch, then waits
for Kafka to have their changelog records."""

from __future__ import annotations

import asyncio
from typing import Any

from streams.app import FaustTableStore


class RecordingTable:
    """The parts of a Faust table the store uses: its data, and changelog sends that resolve only
    when the test delivers them."""

    def __init__(self, data: dict[bytes, bytes]) -> None:
        self.data = data
        self.changelog: list[tuple[bytes, bytes | None, asyncio.Future[None]]] = []

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def partition_for_key(self, key: bytes) -> int:
        return 0

    def send_changelog(self, partition: int, key: bytes, value: bytes | None, **_: Any) -> Any:
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.changelog.append((key, value, sent))
        return sent

    def deliver(self) -> None:
        for *_, sent in self.changelog:
            sent.set_result(None)


def test_writes_reach_the_table_only_on_flush_and_reads_see_them_before() -> None:
    async def scenario() -> None:
        table = RecordingTable({b"gone": b"old", b"kept": b"v0"})
        store = FaustTableStore(table)
        store.save("kept", b"v1", None)
        store.delete("gone", None)
        assert table.data == {b"gone": b"old", b"kept": b"v0"}
        assert (store.load("kept", None), store.load("gone", None)) == (b"v1", None)
        flushing = asyncio.ensure_future(store.flush())
        await asyncio.sleep(0.01)
        assert table.data == {b"kept": b"v1"}
        assert [(key, value) for key, value, _ in table.changelog] == [
            (b"kept", b"v1"),
            (b"gone", None),
        ]
        assert store.pending == {}
        assert not flushing.done()  # until Kafka has the changelog records
        table.deliver()
        await asyncio.wait_for(flushing, timeout=1)

    asyncio.run(scenario())


def test_a_failed_batch_leaves_the_table_untouched() -> None:
    async def scenario() -> None:
        table = RecordingTable({b"c1": b"v0"})
        store = FaustTableStore(table)
        store.save("c1", b"half-applied", None)
        store.discard()
        await store.flush()
        assert table.data == {b"c1": b"v0"}
        assert table.changelog == []

    asyncio.run(scenario())
