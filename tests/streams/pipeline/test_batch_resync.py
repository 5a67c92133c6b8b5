"""A resync re-evaluation publishes the customer's whole membership, changed or not."""

from __future__ import annotations

from streams.pipeline.batch import RESYNC_REASON
from tests.streams.pipeline.test_batch import (
    NOW,
    DictStore,
    processor,
    purchase,
    record,
    reevaluate,
)


def test_a_resync_publishes_an_unchanged_membership_in_full_and_saves_nothing() -> None:
    store = DictStore()
    work = processor(store)
    work.process([record("c1", purchase(1, "150"), 0)], NOW)
    saves = store.saves
    outcome = work.process([reevaluate("c1", RESYNC_REASON)], NOW + 60)
    [change] = outcome.changes
    assert (change.customer_id, change.segments, change.reason) == (
        "c1",
        {"big_spenders": NOW},  # member since the first time, as the profile says
        RESYNC_REASON,
    )
    assert (change.entered, change.exited) == (frozenset(), frozenset())  # nothing changed
    assert change.variants == {"big_spenders": "treatment"}
    assert store.saves == saves  # the profile is as it was: no changelog write


def test_a_resync_of_a_customer_in_no_segment_publishes_the_empty_membership() -> None:
    store = DictStore()
    work = processor(store)
    work.process([record("c1", purchase(1, "5"), 0)], NOW)
    [change] = work.process([reevaluate("c1", RESYNC_REASON)], NOW).changes
    assert change.segments == {}


def test_other_re_evaluations_of_an_unchanged_membership_still_publish_nothing() -> None:
    store = DictStore()
    work = processor(store)
    work.process([record("c1", purchase(1, "150"), 0)], NOW)
    assert work.process([reevaluate("c1", "rule_change")], NOW).changes == []


def test_a_resync_and_an_event_of_one_customer_in_one_batch_publish_once_in_full() -> None:
    store = DictStore()
    work = processor(store)
    work.process([record("c1", purchase(1, "150"), 0)], NOW)
    for batch in (
        [record("c1", purchase(2, "1"), 1), reevaluate("c1", RESYNC_REASON)],
        [reevaluate("c1", RESYNC_REASON), record("c1", purchase(3, "1"), 2)],
    ):
        [change] = work.process(batch, NOW).changes
        assert change.segments == {"big_spenders": NOW}
