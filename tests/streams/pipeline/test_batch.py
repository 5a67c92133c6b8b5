"""The per-batch computation with an in-memory store: dead letters, exactness, memberships,
identity."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from rules import BUILTIN_RULES, RuleSet
from rules.loader import load_rule_texts
from streams.pipeline.batch import REEVALUATE_SOURCE, BatchOutcome, BatchProcessor, InputRecord
from streams.pipeline.cache import ProfileCache
from streams.pipeline.identity import IDENTITY_SOURCE, IdentityMessage
from streams.profile import Profile, decode_profile
from tests.streams.events.malformed_corpus import CUSTOMER, MALFORMED, MAX_EVENT_BYTES

TS = "2026-01-15T10:00:00Z"
NOW = 1_790_000_000.0


class DictStore:
    """The profile table, as a dict of encoded profiles."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.saves = 0

    def load(self, key: str, handle: None) -> bytes | None:
        return self.data.get(key)

    def save(self, key: str, value: bytes, handle: None) -> None:
        self.data[key] = value
        self.saves += 1

    def delete(self, key: str, handle: None) -> None:
        self.data.pop(key, None)

    def profile(self, key: str) -> Profile:
        return decode_profile(self.data[key])


class FailingStore(DictStore):
    def save(self, key: str, value: bytes, handle: None) -> None:
        raise OSError("disk full")


def processor(store: DictStore, cache_size: int = 100) -> BatchProcessor[None]:
    return BatchProcessor(
        store=store,
        rules=lambda: BUILTIN_RULES,
        max_event_bytes=MAX_EVENT_BYTES,
        cache=ProfileCache(cache_size),
    )


def record(key: str | None, value: Any, offset: int, partition: int = 0) -> InputRecord[None]:
    raw = value if isinstance(value, bytes) or value is None else json.dumps(value).encode()
    return InputRecord(key.encode() if key else None, raw, "events", partition, offset, None)


def event(kind: str, n: int, customer: str = "c1", **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "event_id": f"{customer}-e{n}",
        "customer_id": customer,
        "ts": TS,
        **fields,
    }


def purchase(n: int, total: str, customer: str = "c1") -> dict[str, Any]:
    return event("purchase", n, customer, order_id=f"o{n}", total=total)


def identity(message: IdentityMessage, offset: int = 0) -> InputRecord[None]:
    return InputRecord(message.subject.encode(), message.encode(), IDENTITY_SOURCE, 0, offset, None)


# --- events -----------------------------------------------------------------------------------


def test_good_events_update_their_profiles() -> None:
    store = DictStore()
    outcome = processor(store).process(
        [
            record("c1", purchase(1, "20.50"), 0),
            record("c2", event("page_view", 2, "c2", url="/"), 1),
            record("c1", purchase(3, "9.50"), 2),
            record(
                "v1",
                {**event("search", 4, query="q"), "customer_id": None, "anonymous_id": "v1"},
                3,
            ),
        ],
        NOW,
    )
    assert (outcome.applied, outcome.duplicates, outcome.dead_letters) == (4, 0, [])
    c1 = store.profile("c1")
    assert (c1.orders, c1.spend_cents, c1.version, c1.applied_offsets) == (
        2,
        3000,
        2,
        {"events:0": 2},
    )
    assert store.profile("c2").page_views == 1
    visitor = store.profile("v1")
    assert (visitor.searches, visitor.anonymous) == (1, True)
    assert outcome.changes == []  # nobody crossed a rule
    assert store.saves == 3  # one save per touched profile, not per event


def test_every_malformed_event_is_dead_lettered_and_the_good_ones_around_it_applied() -> None:
    store = DictStore()
    records, offset = [], 0
    for n, (_, raw, _, _) in enumerate(MALFORMED):
        records += [
            record(CUSTOMER, purchase(n, "2", CUSTOMER), offset),
            record(CUSTOMER, raw, offset + 1),
        ]
        offset += 2
    records.append(record(CUSTOMER, purchase(len(MALFORMED), "2", CUSTOMER), offset))
    outcome = processor(store).process(records, NOW)

    assert len(outcome.dead_letters) == len(MALFORMED)
    for dead, (name, raw, kind, field) in zip(outcome.dead_letters, MALFORMED, strict=True):
        assert dead.record.value == raw, name
        assert (dead.rejection.kind, dead.rejection.field) == (kind, field or ""), name
        assert dead.rejection.message, name
    assert outcome.applied == len(MALFORMED) + 1
    profile = store.profile(CUSTOMER)
    assert (profile.orders, profile.spend_cents) == (len(MALFORMED) + 1, 200 * (len(MALFORMED) + 1))
    [change] = outcome.changes  # over 100 spent by the good events alone
    assert change.entered == frozenset({"big_spenders"})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("someone-else", purchase(1, "5")),  # another customer's key
        (None, purchase(1, "5")),  # no key at all
        ("C1", purchase(1, "5")),  # keys are case sensitive
        ("v1", {**purchase(1, "5"), "anonymous_id": "v1"}),  # customer known: key by customer
    ],
)
def test_a_key_that_is_not_the_event_s_subject_is_dead_lettered(
    key: str | None, value: Any
) -> None:
    store = DictStore()
    outcome = processor(store).process(
        [record(key, value, 0), record("c1", purchase(2, "7"), 1)], NOW
    )
    [dead] = outcome.dead_letters
    assert (dead.record.offset, dead.rejection.kind, dead.rejection.field) == (
        0,
        "key_mismatch",
        "",
    )
    assert "c1" in dead.rejection.message
    assert store.profile("c1").spend_cents == 700
    assert set(store.data) == {"c1"}


# --- exactly once -----------------------------------------------------------------------------


@pytest.mark.parametrize("restarted", [False, True], ids=["warm cache", "state from the store"])
def test_a_redelivered_batch_applies_nothing_and_changes_no_membership(restarted: bool) -> None:
    store = DictStore()
    batch = [record("c1", purchase(n, "60"), n) for n in range(3)]
    first = processor(store).process(batch, NOW)
    [entered] = first.changes
    assert entered.entered == frozenset({"big_spenders"})
    before = store.data["c1"]

    again = (processor(store, cache_size=0) if restarted else processor(store)).process(batch, NOW)
    assert (again.applied, again.duplicates, again.changes, again.dead_letters) == (0, 3, [], [])
    assert store.data["c1"] == before  # not even the version moved


def test_a_partly_redelivered_batch_applies_only_the_new_messages() -> None:
    store = DictStore()
    work = processor(store)
    work.process([record("c1", purchase(n, "10"), n) for n in range(3)], NOW)
    outcome = work.process([record("c1", purchase(n, "10"), n) for n in range(1, 6)], NOW)
    assert (outcome.applied, outcome.duplicates) == (3, 2)
    assert store.profile("c1").orders == 6


def test_a_re_sent_event_with_a_new_offset_counts_once() -> None:
    store = DictStore()
    outcome = processor(store).process(
        [record("c1", purchase(1, "10"), 0), record("c1", purchase(1, "10"), 1)], NOW
    )
    assert (outcome.applied, outcome.duplicates) == (1, 1)


def test_a_failed_batch_leaves_no_half_applied_profile_in_the_cache() -> None:
    cache = ProfileCache(100)
    store = DictStore()
    work = BatchProcessor(
        store=store, rules=lambda: BUILTIN_RULES, max_event_bytes=MAX_EVENT_BYTES, cache=cache
    )
    work.process([record("c1", purchase(1, "10"), 0)], NOW)
    assert len(cache) == 1
    failing = BatchProcessor(
        store=FailingStore(),
        rules=lambda: BUILTIN_RULES,
        max_event_bytes=MAX_EVENT_BYTES,
        cache=cache,
    )
    with pytest.raises(OSError, match="disk full"):
        failing.process([record("c1", purchase(2, "10"), 1)], NOW)
    assert len(cache) == 0


# --- memberships ------------------------------------------------------------------------------


def test_crossing_a_spend_of_100_enters_big_spenders_once() -> None:
    store = DictStore()
    work = processor(store)
    below = work.process(
        [record("c1", purchase(1, "60"), 0), record("c1", purchase(2, "39.99"), 1)], NOW
    )
    assert below.changes == []
    crossing = work.process([record("c1", purchase(3, "0.01"), 2)], NOW + 5)
    [change] = crossing.changes
    assert (change.customer_id, change.entered, change.exited) == (
        "c1",
        frozenset({"big_spenders"}),
        frozenset(),
    )
    assert (change.segments, change.reason, change.erased) == (
        {"big_spenders": NOW + 5},
        "event",
        False,
    )
    assert (change.profile_version, change.rules_version) == (3, BUILTIN_RULES.version)
    assert store.profile("c1").segments == {"big_spenders": NOW + 5}

    still = work.process([record("c1", purchase(4, "1"), 3)], NOW + 60)
    assert still.changes == []  # no change, nothing to publish
    assert store.profile("c1").segments == {"big_spenders": NOW + 5}  # member since is kept


def test_consent_off_withdraws_every_segment_and_consent_on_restores_them() -> None:
    store = DictStore()
    work = processor(store)
    work.process([record("c1", purchase(1, "150"), 0)], NOW)
    off = event("consent", 2, personalization=False)
    [withdrawn] = work.process([record("c1", off, 1)], NOW + 1).changes
    assert (withdrawn.exited, withdrawn.entered, withdrawn.segments) == (
        frozenset({"big_spenders"}),
        frozenset(),
        {},
    )
    assert (withdrawn.reason, withdrawn.erased) == ("consent", False)
    assert work.process([record("c1", purchase(3, "50"), 2)], NOW + 2).changes == []
    assert store.profile("c1").spend_cents == 20_000  # the profile still learns

    on = {**event("consent", 4, personalization=True), "ts": "2026-01-15T10:00:01Z"}
    [restored] = work.process([record("c1", on, 3)], NOW + 3).changes
    assert (restored.entered, restored.reason) == (frozenset({"big_spenders"}), "consent")


def test_a_late_older_opt_in_does_not_restore_segments() -> None:
    store = DictStore()
    work = processor(store)
    work.process(
        [
            record("c1", purchase(1, "150"), 0),
            record("c1", event("consent", 2, personalization=False), 1),
        ],
        NOW,
    )
    stale = {**event("consent", 3, personalization=True), "ts": "2026-01-14T10:00:00Z"}
    outcome = work.process([record("c1", stale, 2)], NOW + 1)
    assert (outcome.applied, outcome.changes) == (1, [])
    assert store.profile("c1").consent is False


def test_forget_deletes_the_profile_and_withdraws_every_segment() -> None:
    store = DictStore()
    work = processor(store)
    work.process([record("c1", purchase(1, "150"), 0)], NOW)
    cached = work.cache.get("c1")
    assert cached is not None
    cached.aliases = ["v1"]  # as after a merge
    outcome = work.process([record("c1", event("forget", 2), 1)], NOW + 1)
    [erased] = outcome.changes
    assert (erased.erased, erased.reason, erased.segments) == (True, "forget", {})
    assert (erased.exited, erased.entered) == (frozenset({"big_spenders"}), frozenset())
    assert "c1" not in store.data
    assert len(work.cache) == 0
    [forget_alias] = outcome.outbox
    assert (forget_alias.op, forget_alias.subject, forget_alias.other) == (
        "forget_alias",
        "v1",
        "c1",
    )


def test_events_after_a_forget_in_the_same_batch_start_a_fresh_profile() -> None:
    store = DictStore()
    outcome = processor(store).process(
        [
            record("c1", purchase(1, "150"), 0),
            record("c1", event("forget", 2), 1),
            record("c1", purchase(3, "5"), 2),
        ],
        NOW,
    )
    assert outcome.applied == 3
    assert store.profile("c1").spend_cents == 500
    assert outcome.changes == []  # not a member before the batch, not one after


# --- identity ---------------------------------------------------------------------------------


def test_identify_merges_once_and_forwards_later_visitor_events() -> None:
    store = DictStore()
    work = processor(store)
    visit = {**purchase(1, "80"), "customer_id": None, "anonymous_id": "v1"}
    work.process([record("v1", visit, 0)], NOW)
    identify = event("identify", 2, anonymous_id="v1")
    [request] = work.process([record("c1", identify, 1)], NOW).outbox
    assert (request.op, request.subject, request.other) == ("merge_request", "v1", "c1")

    visitor_side = work.process([identity(request)], NOW)
    [state] = visitor_side.outbox
    assert state.op == "merge_state"
    assert store.profile("v1").merged_into == "c1"

    for _ in range(2):  # a replayed merge_state is folded in once
        work.process([identity(state)], NOW)
    customer = store.profile("c1")
    assert (customer.orders, customer.spend_cents, customer.aliases) == (1, 8000, ["v1"])

    later = {**purchase(5, "30"), "customer_id": None, "anonymous_id": "v1"}
    [forward] = work.process([record("v1", later, 2)], NOW).outbox
    assert forward.op == "forward"
    [change] = work.process([identity(forward)], NOW).changes
    assert change.entered == frozenset({"big_spenders"})
    assert store.profile("c1").spend_cents == 11_000


def visitor_purchase(n: int, offset: int) -> InputRecord[None]:
    """A purchase of 1.00 by visitor v1, read at ``offset`` of partition 0 of the events."""
    return record(
        "v1", {**purchase(n, "1", "v1"), "customer_id": None, "anonymous_id": "v1"}, offset
    )


IDENTIFY = record("c1", event("identify", 10_000, anonymous_id="v1"), 0, partition=1)


def merged_visitor(work: BatchProcessor[None], purchases: int) -> IdentityMessage:
    """Visitor v1 buys ``purchases`` times (offsets 0...), then identifies as c1 and is merged;
    returns the merge_state message."""
    work.process([visitor_purchase(n, n) for n in range(purchases)], NOW)
    [request] = work.process([IDENTIFY], NOW).outbox
    [state] = work.process([identity(request)], NOW).outbox
    work.process([identity(state)], NOW)
    return state


def forwarded(work: BatchProcessor[None], outcome: BatchOutcome[None]) -> None:
    """Apply a batch's identity messages where they go."""
    if outcome.outbox:
        work.process([identity(message) for message in outcome.outbox], NOW)


MORE_THAN_REMEMBERED = 300  # event ids a profile remembers: 256


def test_a_replay_of_many_visitor_events_after_the_merge_is_not_forwarded_again() -> None:
    store = DictStore()
    work = processor(store)
    merged_visitor(work, MORE_THAN_REMEMBERED)
    assert store.profile("c1").orders == MORE_THAN_REMEMBERED

    replay = work.process([visitor_purchase(n, n) for n in range(MORE_THAN_REMEMBERED)], NOW)
    forwarded(work, replay)
    assert (replay.outbox, replay.duplicates) == ([], MORE_THAN_REMEMBERED)
    assert store.profile("c1").orders == MORE_THAN_REMEMBERED


def test_visitor_events_after_the_merge_are_forwarded_once_however_often_replayed() -> None:
    store = DictStore()
    work = processor(store)
    merged_visitor(work, 1)
    later = [visitor_purchase(n, n) for n in range(1, 1 + MORE_THAN_REMEMBERED)]
    visitor_before = store.data["v1"]
    first = work.process(later, NOW)
    forwarded(work, first)
    # A crash before the visitor's partition saved the batch: it forwards the events again.
    store.data["v1"] = visitor_before
    work.cache.clear()
    again = work.process(later, NOW)
    assert len(again.outbox) == MORE_THAN_REMEMBERED
    forwarded(work, again)
    work.process([identity(message) for message in first.outbox], NOW)  # delivered twice
    forwarded(work, work.process(later, NOW))  # and a replay once the visitor saved it
    assert store.profile("c1").orders == 1 + MORE_THAN_REMEMBERED


def test_a_merge_delivered_again_after_many_forwarded_events_is_folded_in_once() -> None:
    store = DictStore()
    work = processor(store)
    state = merged_visitor(work, 5)
    later = [visitor_purchase(n, n) for n in range(5, 5 + MORE_THAN_REMEMBERED)]
    forwarded(work, work.process(later, NOW))  # the merge's marker leaves the last 256 ids
    work.process([identity(state)], NOW)
    assert store.profile("c1").orders == 5 + MORE_THAN_REMEMBERED


def test_a_replayed_identify_asks_for_no_second_merge() -> None:
    store = DictStore()
    work = processor(store)
    merged_visitor(work, 1)
    assert work.process([IDENTIFY], NOW).outbox == []


def test_a_forwarded_event_counts_whatever_the_customer_s_own_offsets_in_that_partition() -> None:
    store = DictStore()
    work = processor(store)
    merged_visitor(work, 1)
    own = record("c1", purchase(7, "1"), 5_000, partition=0)  # the visitor's partition too
    work.process([own], NOW)
    forwarded(work, work.process([visitor_purchase(1, 20)], NOW))
    assert store.profile("c1").orders == 3


def test_an_unknown_identity_op_is_dead_lettered_not_an_erasure() -> None:
    # Regression: any op but merge_request, merge_state and forward used to erase the subject.
    store = DictStore()
    work = processor(store)
    work.process([record("c1", purchase(1, "150"), 0)], NOW)
    raw = json.dumps({"op": "rename", "subject": "c1", "other": "c2"}).encode()
    outcome = work.process([InputRecord(b"c1", raw, IDENTITY_SOURCE, 0, 9, None)], NOW)
    [dead] = outcome.dead_letters
    assert (dead.rejection.kind, dead.rejection.field) == ("invalid", "op")
    assert outcome.changes == []
    assert store.profile("c1").spend_cents == 15_000


def test_an_undecodable_merge_state_is_dead_lettered_and_the_batch_goes_on() -> None:
    # Regression: it used to raise, failing the batch again on every redelivery.
    store = DictStore()
    bad = IdentityMessage("merge_state", "c1", "v1", "i1", payload=[99, "v1"])
    outcome: BatchOutcome[None] = processor(store).process(
        [identity(bad), record("c1", purchase(1, "5"), 0)], NOW
    )
    [dead] = outcome.dead_letters
    assert (dead.rejection.kind, dead.rejection.field) == ("invalid", "payload")
    assert "version 99" in dead.rejection.message
    assert (outcome.applied, store.profile("c1").spend_cents) == (1, 500)
    assert "merge:i1" not in store.profile("c1").recent_event_ids  # a good retry still merges


def test_a_garbled_identity_message_is_dead_lettered() -> None:
    outcome = processor(DictStore()).process(
        [InputRecord(b"c1", b"{not json", IDENTITY_SOURCE, 0, 0, None)], NOW
    )
    [dead] = outcome.dead_letters
    assert dead.rejection.kind == "invalid"


# --- re-evaluation: time passing and rule changes ---------------------------------------------


def reevaluate(customer: str, reason: str = "elapsed") -> InputRecord[None]:
    return InputRecord(customer.encode(), reason.encode(), REEVALUATE_SOURCE, 0, -1, None)


def recent_visitor_rules(seconds: int) -> RuleSet:
    text = (
        "segments:\n  - {id: recent, name: R, description: d, "
        f"condition: 'seconds_since_last_visit <= {seconds}'}}\n"
    )
    return load_rule_texts({"r.yaml": text})


def test_time_alone_moves_a_customer_out_when_the_due_re_evaluation_arrives() -> None:
    store = DictStore()
    rules = recent_visitor_rules(60)
    proc = BatchProcessor(store=store, rules=lambda: rules, max_event_bytes=MAX_EVENT_BYTES)
    visit_ts = datetime.fromisoformat(TS.replace("Z", "+00:00")).timestamp()
    entered = proc.process([record("c1", event("page_view", 1, url="/"), 0)], visit_ts + 1)
    assert [set(c.entered) for c in entered.changes] == [{"recent"}]
    due = entered.due["c1"]
    assert due is not None
    assert due == pytest.approx(visit_ts + 60.001)
    saves = store.saves
    early = proc.process([reevaluate("c1")], visit_ts + 30)
    assert early.changes == []
    assert store.saves == saves
    assert early.due["c1"] == pytest.approx(due)
    left = proc.process([reevaluate("c1")], due)
    assert [(set(c.exited), c.reason) for c in left.changes] == [({"recent"}, "elapsed")]
    assert left.due["c1"] is None
    assert store.profile("c1").segments == {}


def test_re_evaluating_an_unknown_or_erased_customer_creates_nothing() -> None:
    store = DictStore()
    outcome = processor(store).process([reevaluate("ghost", "rule_change")], NOW)
    assert outcome.changes == []
    assert store.data == {}
    assert outcome.reevaluated == 1


def test_an_event_after_a_re_evaluation_in_one_batch_is_saved_as_an_event() -> None:
    store = DictStore()
    proc = processor(store)
    proc.process([record("c1", purchase(1, "50"), 0)], NOW)
    outcome = proc.process([reevaluate("c1"), record("c1", purchase(2, "60"), 1)], NOW)
    assert [(set(c.entered), c.reason) for c in outcome.changes] == [({"big_spenders"}, "event")]
    assert store.profile("c1").spend_cents == 11_000


def test_outcome_lists_the_event_times_of_applied_events_only() -> None:
    late = {**purchase(2, "5.00"), "ts": "2026-01-15T10:00:30Z"}
    records = [
        record("c1", purchase(1, "5.00"), 0),
        record("c1", late, 1),
        record("c1", purchase(1, "5.00"), 2),  # the same event again: a duplicate
        record("c1", b"{not json", 3),  # a dead letter
    ]
    outcome = processor(DictStore()).process(records, NOW)
    assert outcome.applied == 2
    assert outcome.event_times == [1768471200.0, 1768471230.0]
