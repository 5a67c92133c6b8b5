"""The per-batch computation with an in-memory store: dead letters, exactness, identity."""

from __future__ import annotations

import json
from typing import Any

from rules import BUILTIN_RULES
from streams.pipeline.batch import BatchProcessor, InputRecord
from streams.pipeline.cache import ProfileCache
from streams.pipeline.identity import IDENTITY_SOURCE, IdentityMessage
from streams.profile import decode_profile

TS = "2026-01-15T10:00:00Z"
NOW = 1_790_000_000.0


class DictStore:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def load(self, key: str, handle: None) -> bytes | None:
        return self.data.get(key)

    def save(self, key: str, value: bytes, handle: None) -> None:
        self.data[key] = value

    def delete(self, key: str, handle: None) -> None:
        self.data.pop(key, None)


def processor(store: DictStore, cache_size: int = 100) -> BatchProcessor[None]:
    return BatchProcessor(store=store, rules=lambda: BUILTIN_RULES, max_event_bytes=4096,
                          cache=ProfileCache(cache_size))  # fmt: skip


def record(key: str | None, value: Any, offset: int, topic: str = "events") -> InputRecord[None]:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return InputRecord(key.encode() if key else None, raw, topic, 0, offset, None)


def purchase(n: int, total: str, **ids: str) -> dict[str, Any]:
    return {"type": "purchase", "event_id": f"e{n}", "ts": TS, "order_id": f"o{n}",
            "total": total, **(ids or {"customer_id": "c1"})}  # fmt: skip


def test_good_events_around_bad_ones_are_applied_and_bad_ones_dead_lettered() -> None:
    store = DictStore()
    outcome = processor(store).process(
        [
            record("c1", purchase(1, "60"), 0),
            record("c1", b"{broken", 1),
            record("c1", purchase(2, "-1"), 2),
            record("other", purchase(3, "5"), 3),
            record("c1", purchase(4, "40"), 4),
        ],
        NOW,
    )
    kinds = [(d.record.offset, d.rejection.kind, d.rejection.field) for d in outcome.dead_letters]
    assert kinds == [(1, "bad_json", ""), (2, "invalid", "total"), (3, "key_mismatch", "")]
    profile = decode_profile(store.data["c1"])
    assert (profile.orders, profile.spend_cents) == (2, 10_000)
    [change] = outcome.changes
    assert change.entered == frozenset({"big_spenders"})


def test_a_redelivered_batch_changes_nothing() -> None:
    store = DictStore()
    batch = [record("c1", purchase(n, "60"), n) for n in range(3)]
    processor(store).process(batch, NOW)
    fresh = processor(store, cache_size=0)  # as after a restart: state from the store only
    again = fresh.process(batch, NOW)
    assert (again.applied, again.duplicates, again.changes) == (0, 3, [])
    assert decode_profile(store.data["c1"]).orders == 3


def test_consent_off_withdraws_segments_and_forget_erases() -> None:
    store = DictStore()
    work = processor(store)
    work.process([record("c1", purchase(1, "150"), 0)], NOW)
    off = {"type": "consent", "event_id": "k", "customer_id": "c1", "ts": TS,
           "personalization": False}  # fmt: skip
    [change] = work.process([record("c1", off, 1)], NOW).changes
    assert (change.exited, change.reason) == (frozenset({"big_spenders"}), "consent")
    forget = {"type": "forget", "event_id": "f", "customer_id": "c1", "ts": TS}
    [erased] = work.process([record("c1", forget, 2)], NOW).changes
    assert erased.erased
    assert erased.segments == {}
    assert "c1" not in store.data


def identity(message: IdentityMessage) -> InputRecord[None]:
    return InputRecord(message.subject.encode(), message.encode(), IDENTITY_SOURCE, 0, -1, None)


def test_identify_merges_once_and_forwards_later_visitor_events() -> None:
    store = DictStore()
    work = processor(store)
    work.process([record("v1", purchase(1, "80", anonymous_id="v1"), 0)], NOW)
    identify = {"type": "identify", "event_id": "i1", "customer_id": "c1", "anonymous_id": "v1",
                "ts": TS}  # fmt: skip
    [request] = work.process([record("c1", identify, 1)], NOW).outbox
    assert (request.op, request.subject, request.other) == ("merge_request", "v1", "c1")

    visitor_side = work.process([identity(request)], NOW)
    [state] = visitor_side.outbox
    assert state.op == "merge_state"
    assert decode_profile(store.data["v1"]).merged_into == "c1"

    for _ in range(2):  # a replayed merge_state is folded in once
        work.process([identity(state)], NOW)
    customer = decode_profile(store.data["c1"])
    assert (customer.orders, customer.spend_cents, customer.aliases) == (1, 8000, ["v1"])

    later = work.process([record("v1", purchase(5, "30", anonymous_id="v1"), 2)], NOW)
    [forward] = later.outbox
    assert forward.op == "forward"
    [change] = work.process([identity(forward)], NOW).changes
    assert change.entered == frozenset({"big_spenders"})
    assert decode_profile(store.data["c1"]).spend_cents == 11_000
