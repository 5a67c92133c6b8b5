"""What the batch pipeline hands the sink for segment metrics: purchases made while in segments,
and active anonymous members whose expiry to renew."""

from __future__ import annotations

from typing import Any

from streams.pipeline.batch import PurchaseMade
from streams.pipeline.identity import IdentityMessage
from tests.streams.pipeline.test_batch import (
    NOW,
    DictStore,
    identity,
    processor,
    purchase,
    record,
)


def visitor_purchase(n: int, total: str, visitor: str = "v1") -> dict[str, Any]:
    return {
        "type": "purchase",
        "event_id": f"{visitor}-e{n}",
        "anonymous_id": visitor,
        "ts": "2026-01-15T10:00:00Z",
        "order_id": f"o{n}",
        "total": total,
    }


def test_a_purchase_counts_only_for_segments_published_before_it() -> None:
    pipeline = processor(DictStore())
    entering = pipeline.process([record("c1", purchase(1, "150.00"), 0)], NOW)
    assert [c.entered for c in entering.changes] == [frozenset({"big_spenders"})]
    assert entering.purchases == []  # not yet a member when buying

    member = pipeline.process([record("c1", purchase(2, "20.00"), 1)], NOW)
    assert member.changes == []
    assert member.purchases == [PurchaseMade("c1", "o2", 2000)]


def test_a_redelivered_purchase_is_not_counted_again() -> None:
    pipeline = processor(DictStore())
    pipeline.process([record("c1", purchase(1, "150.00"), 0)], NOW)
    pipeline.process([record("c1", purchase(2, "20.00"), 1)], NOW)
    again = pipeline.process([record("c1", purchase(2, "20.00"), 1)], NOW)
    assert (again.purchases, again.duplicates) == ([], 1)


def test_active_anonymous_members_are_refreshed_identified_ones_are_not() -> None:
    pipeline = processor(DictStore())
    pipeline.process(
        [record("v1", visitor_purchase(1, "150.00"), 0), record("c1", purchase(1, "150.00"), 1)],
        NOW,
    )
    later = pipeline.process(
        [record("v1", visitor_purchase(2, "1.00"), 2), record("c1", purchase(2, "1.00"), 3)], NOW
    )
    assert later.changes == []
    assert later.refreshed == ["v1"]
    assert {p.customer_id for p in later.purchases} == {"v1", "c1"}


def test_an_active_alias_is_refreshed_so_the_visitor_id_keeps_resolving() -> None:
    pipeline = processor(DictStore())
    merged = pipeline.process([identity(IdentityMessage("merge_request", "v1", "c1", "m1"))], NOW)
    assert [(c.customer_id, c.alias_of) for c in merged.changes] == [("v1", "c1")]
    later = pipeline.process([record("v1", visitor_purchase(1, "5.00"), 0)], NOW)
    assert later.refreshed == ["v1"]
    assert [m.op for m in later.outbox] == ["forward"]
