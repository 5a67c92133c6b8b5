"""The worker's profile store holds a batch's writes back until Redis has the batch."""

from __future__ import annotations

from streams.app import FaustTableStore


def test_writes_reach_the_table_only_on_flush_and_reads_see_them_before() -> None:
    table: dict[bytes, bytes] = {b"gone": b"old", b"kept": b"v0"}
    store = FaustTableStore(table)
    store.save("kept", b"v1", None)
    store.delete("gone", None)
    assert table == {b"gone": b"old", b"kept": b"v0"}
    assert (store.load("kept", None), store.load("gone", None)) == (b"v1", None)
    store.flush()
    assert table == {b"kept": b"v1"}
    assert store.pending == {}


def test_a_failed_batch_leaves_the_table_untouched() -> None:
    table: dict[bytes, bytes] = {b"c1": b"v0"}
    store = FaustTableStore(table)
    store.save("c1", b"half-applied", None)
    store.discard()
    store.flush()
    assert table == {b"c1": b"v0"}
