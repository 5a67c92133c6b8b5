from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from streams.ops.gc_pauses import GcPauses


@pytest.fixture
def pauses() -> Iterator[GcPauses]:
    installed = GcPauses()
    installed.install()
    try:
        yield installed
    finally:
        installed.uninstall()


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> Node:
    first, second = Node(), Node()
    first.other, second.other = second, first
    return first


def test_survivors_of_a_collection_are_frozen(pauses: GcPauses) -> None:
    frozen_before = gc.get_freeze_count()
    survivors = [[n] for n in range(1000)]
    gc.collect(0)
    assert gc.get_freeze_count() >= frozen_before + len(survivors)
    collectable = {id(obj) for obj in gc.get_objects()}  # the permanent generation is not listed
    assert not collectable & {id(survivor) for survivor in survivors}


def test_cycles_that_die_young_are_still_collected(pauses: GcPauses) -> None:
    cycle()  # garbage at once: only the collector can free it
    assert gc.collect(0) >= 2


def test_collections_and_pauses_are_counted(pauses: GcPauses) -> None:
    before = pauses.collections
    gc.collect(0)
    gc.collect(0)
    snapshot = pauses.snapshot()
    assert snapshot["collections"] == before + 2
    assert 0 <= snapshot["longest_pause_ms"] <= snapshot["total_pause_ms"]
    assert snapshot["frozen_objects"] == gc.get_freeze_count()  # counted on the first call
    [[] for _ in range(100)]
    gc.collect(0)
    assert pauses.snapshot()["frozen_objects"] == snapshot["frozen_objects"]  # then kept a while


def test_install_twice_adds_one_callback() -> None:
    pauses = GcPauses()
    pauses.install()
    pauses.install()
    try:
        assert gc.callbacks.count(pauses._on_collection) == 1
    finally:
        pauses.uninstall()
    assert pauses._on_collection not in gc.callbacks
    assert gc.get_freeze_count() == 0
