"""The simulator's events are valid, deterministic, and its personas behave as named."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from decimal import Decimal

from streams.events import decode_event
from streams.traffic import PERSONAS, generate, make_shoppers

START = 1_790_000_000.0


def history(customers: int = 600, days: float = 20) -> list[tuple[str, dict[str, object]]]:
    return [(e.key, e.payload) for e in generate(customers, seed=3, start=START, days=days)]


def test_every_event_validates_and_is_keyed_by_its_subject() -> None:
    for key, payload in history(200, 5):
        event = decode_event(json.dumps(payload).encode(), max_bytes=65_536)
        assert event.subject_id == key


def test_same_seed_same_traffic_and_unique_event_ids() -> None:
    first = history(100, 3)
    assert first == history(100, 3)
    ids = [payload["event_id"] for _, payload in first]
    assert len(ids) == len(set(ids))


def test_persona_shares_follow_the_configuration() -> None:
    shoppers = make_shoppers(20_000, seed=1)
    counts = Counter(s.persona.name for s in shoppers)
    for persona in PERSONAS:
        assert abs(counts[persona.name] / 20_000 - persona.share) < 0.015, persona.name


def test_personas_behave_as_named() -> None:
    persona_of = {s.customer_id: s.persona.name for s in make_shoppers(600, seed=3)}
    spend: defaultdict[str, Decimal] = defaultdict(Decimal)
    orders: Counter[str] = Counter()
    carts: Counter[str] = Counter()
    sessions: Counter[str] = Counter()
    for _, payload in history():
        customer = str(payload.get("customer_id") or payload["anonymous_id"]).removeprefix("anon-")
        persona = persona_of[customer]
        kind = payload["type"]
        if kind == "purchase":
            orders[persona] += 1
            spend[persona] += Decimal(str(payload["total"]))
        elif kind == "add_to_cart":
            carts[persona] += 1
        elif kind == "page_view":
            sessions[persona] += 1
    members = Counter(persona_of.values())

    def mean_spend(name: str) -> Decimal:
        return spend[name] / members[name]

    assert mean_spend("big_spender") > 3 * mean_spend("budget_shopper")
    assert orders["window_shopper"] < 0.1 * sessions["window_shopper"]
    assert carts["cart_abandoner"] > 5 * orders["cart_abandoner"]


def test_generation_streams_without_building_every_timeline() -> None:
    events = generate(200_000, seed=5, start=START, days=30)
    first = [next(events) for _ in range(10_000)]
    assert len(first) == 10_000
