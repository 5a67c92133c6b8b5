"""Which envelopes a partition skips as already applied and which it must read back first."""

from __future__ import annotations

from streams.ingest.sequence import already_applied, missed_envelopes


def test_envelopes_up_to_the_last_applied_one_are_redeliveries() -> None:
    assert already_applied(applied=7, offset=7)
    assert already_applied(applied=7, offset=3)
    assert not already_applied(applied=7, offset=8)
    assert not already_applied(applied=None, offset=0)


def test_the_next_envelope_misses_nothing() -> None:
    assert list(missed_envelopes(applied=7, offset=8, first_offset=0)) == []
    assert list(missed_envelopes(applied=None, offset=0, first_offset=0)) == []


def test_envelopes_between_the_last_applied_and_this_one_are_missed() -> None:
    assert list(missed_envelopes(applied=7, offset=11, first_offset=0)) == [8, 9, 10]


def test_a_partition_that_never_applied_anything_misses_all_from_its_first_offset() -> None:
    assert list(missed_envelopes(applied=None, offset=2, first_offset=0)) == [0, 1]
    # Retention deleted the oldest envelopes: nothing before the first offset can be read.
    assert list(missed_envelopes(applied=None, offset=12, first_offset=10)) == [10, 11]


def test_applying_in_this_order_applies_every_envelope_once_whatever_is_delivered() -> None:
    """Deliveries with redeliveries and holes: each offset is applied exactly once, in order."""
    deliveries = [1, 2, 2, 5, 3, 4, 5, 9, 6, 10]
    applied: int | None = None
    done: list[int] = []
    for offset in deliveries:
        if already_applied(applied, offset):
            continue
        done += [*missed_envelopes(applied, offset, first_offset=0), offset]
        applied = offset
    assert done == list(range(11))
