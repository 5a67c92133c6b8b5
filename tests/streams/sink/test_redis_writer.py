"""What the sink sends to write_customer.lua and to the Kafka change feed (no Redis here)."""

from __future__ import annotations

import json

from streams.pipeline.batch import MembershipChange, PurchaseMade
from streams.sink.feed import FEED_FIELDS, feed_messages
from streams.sink.redis_writer import (
    CustomerUpdate,
    customer_json,
    customer_updates,
    ledger_entry,
)


def change(**overrides: object) -> MembershipChange:
    values: dict[str, object] = {
        "customer_id": "c1",
        "segments": {"vip": 1_790_000_000.12345, "cluster_c2": 1_790_000_001.0},
        "variants": {"vip": "control", "cluster_c2": "treatment"},
        "entered": frozenset({"cluster_c2"}),
        "exited": frozenset({"lapsing"}),
        "profile_version": 7,
        "rules_version": "r9",
        "reason": "event",
        "model_version": "m3",
    }
    values.update(overrides)
    return MembershipChange(**values)  # type: ignore[arg-type]


def test_changes_and_purchases_become_one_update_per_customer() -> None:
    updates = customer_updates(
        [change()],
        [PurchaseMade("c1", "o1", 500), PurchaseMade("c2", "o2", 700), PurchaseMade("c1", "o3", 1)],
    )
    assert updates == [CustomerUpdate("c1", change(), [500, 1]), CustomerUpdate("c2", None, [700])]


def test_customer_json_carries_every_membership_field_the_contract_documents() -> None:
    body = json.loads(customer_json(CustomerUpdate("c1", change(alias_of="c9"), [500])))
    assert body["reason"] == "event"
    assert (body["anonymous"], body["erased"], body["alias_of"]) == (False, False, "c9")
    vip = json.loads(body["segments"]["vip"])
    assert vip == {
        "since": 1_790_000_000.123,
        "variant": "control",
        "rules_version": "r9",
        "model_version": "m3",
    }


def test_a_purchase_only_update_leaves_membership_alone() -> None:
    assert json.loads(customer_json(CustomerUpdate("c2", None, [700]))) == {}
    assert ledger_entry(CustomerUpdate("c2", None, [700])) == {"id": "c2", "purchases": [700]}


def test_the_ledger_entry_counts_variants_purchases_and_the_feed_fields() -> None:
    entry = ledger_entry(CustomerUpdate("c1", change(alias_of="c9"), [500]))
    assert entry == {
        "id": "c1",
        "purchases": [500],
        "segments": {"vip": "control", "cluster_c2": "treatment"},
        "reason": "event",
        "rules_version": "r9",
        "model_version": "m3",
        "anonymous": False,
        "erased": False,
        "alias": True,
    }


def test_feed_messages_cover_entries_and_exits_with_the_stream_fields() -> None:
    messages = list(feed_messages(change(), lambda segment, customer: "control", 42, 5.0))
    assert [key for key, _ in messages] == [b"c1", b"c1"]
    bodies = [json.loads(value) for _, value in messages]
    assert tuple(bodies[0]) == FEED_FIELDS
    assert [(b["segment"], b["direction"], b["variant"]) for b in bodies] == [
        ("cluster_c2", "enter", "treatment"),
        ("lapsing", "exit", "control"),
    ]
    assert {(b["version"], b["at"], b["reason"]) for b in bodies} == {(42, 5.0, "event")}

