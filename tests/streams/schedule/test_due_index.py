"""The due index hands out each customer once, at its latest instant, per partition."""

from __future__ import annotations

from streams.schedule.due_index import DueIndex


def test_a_moved_instant_replaces_the_old_one() -> None:
    index = DueIndex()
    index.set(0, "c1", 10.0)
    index.set(0, "c1", 30.0)
    assert index.pop_due(20.0) == {}
    assert index.pop_due(30.0) == {0: ["c1"]}
    assert index.pop_due(99.0) == {}
    assert len(index) == 0


def test_none_cancels_and_offer_keeps_the_earlier_instant() -> None:
    index = DueIndex()
    index.set(1, "c1", 10.0)
    index.set(1, "c1", None)
    assert index.pop_due(50.0) == {}
    index.offer(1, "c2", 40.0)
    index.offer(1, "c2", 60.0)  # a stale scan result must not postpone a wake-up
    index.offer(1, "c2", None)
    assert index.next_due() == 40.0
    assert index.pop_due(45.0) == {1: ["c2"]}


def test_partitions_are_kept_apart_and_dropped_on_revocation() -> None:
    index = DueIndex()
    index.set(0, "a", 1.0)
    index.set(1, "b", 1.0)
    index.drop([1])
    assert index.pop_due(2.0) == {0: ["a"]}


def test_limit_leaves_the_rest_for_the_next_tick() -> None:
    index = DueIndex()
    for n in range(10):
        index.set(0, f"c{n}", float(n))
    first = index.pop_due(100.0, limit=4)
    rest = index.pop_due(100.0)
    assert first == {0: ["c0", "c1", "c2", "c3"]}
    assert len(rest[0]) == 6


def test_the_heap_stays_bounded_when_instants_keep_moving() -> None:
    index = DueIndex()
    for n in range(50_000):
        index.set(0, "c1", float(n))
    assert len(index._heaps[0]) < 2_000
    assert index.pop_due(1e9) == {0: ["c1"]}
