"""Exact under redelivery and reordering, bounded in size, mergeable, and encodable."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.profile import (
    Profile,
    apply_event,
    compute_features,
    decode_profile,
    encode_profile,
    merge_into,
)
from streams.profile import buckets as b
from tests.streams.profile.events_for_tests import (
    DAY,
    HOUR,
    T0,
    add_to_cart,
    item,
    page_view,
    product_view,
    purchase,
)

NOW = T0 + DAY


def features(profile: Profile) -> dict[str, Any]:
    return compute_features(profile, NOW)


def assert_same_features(left: dict[str, Any], right: dict[str, Any]) -> None:
    assert left.keys() == right.keys()
    for name, value in left.items():
        if name == "affinity":
            assert value.keys() == right[name].keys()
            for category, score in value.items():
                assert score == pytest.approx(right[name][category], rel=1e-9), category
        elif isinstance(value, float):
            assert value == pytest.approx(right[name], rel=1e-9), name
        else:
            assert value == right[name], name


def sample_events(seed: int, count: int) -> list[Any]:
    rng = random.Random(seed)
    makers: list[Callable[[float], Any]] = [
        lambda ts: purchase(ts, f"{rng.randint(1, 9999) / 100:.2f}", items=[item("home")]),
        lambda ts: page_view(ts, session=f"s{rng.randint(1, 5)}"),
        lambda ts: product_view(ts, rng.choice(["fashion", "books", "toys"])),
        lambda ts: add_to_cart(ts, "fashion"),
    ]
    return [rng.choice(makers)(T0 - rng.uniform(0, 100 * DAY)) for _ in range(count)]


def test_same_event_id_counts_once() -> None:
    profile = Profile("c1")
    event = purchase(T0, "10")
    assert apply_event(profile, event) is True
    assert apply_event(profile, event) is False
    assert profile.orders == 1


def test_redelivered_offset_counts_once_even_with_a_new_event_id() -> None:
    profile = Profile("c1")
    assert apply_event(profile, purchase(T0, "10"), source="events:3", offset=41)
    assert not apply_event(profile, purchase(T0, "10"), source="events:3", offset=41)
    assert not apply_event(profile, purchase(T0, "10"), source="events:3", offset=12)
    assert apply_event(profile, purchase(T0, "10"), source="events:4", offset=12)
    assert profile.orders == 2


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 60))
def test_any_arrival_order_gives_the_same_features(seed: int, count: int) -> None:
    events = sample_events(seed, count)
    in_order = Profile("c1")
    for event in sorted(events, key=lambda e: e.ts):
        apply_event(in_order, event)
    shuffled = Profile("c1")
    random.Random(seed).shuffle(events)
    for event in events:
        apply_event(shuffled, event)
    # Sessions are counted by id changes, which depend on order by nature; all else must agree.
    left, right = features(in_order), features(shuffled)
    for name in [n for n in left if n.startswith("sessions_")]:
        del left[name], right[name]
    assert_same_features(left, right)


def test_late_event_lands_in_its_own_window() -> None:
    profile = Profile("c1")
    apply_event(profile, purchase(NOW, "10"))
    apply_event(profile, purchase(NOW - 3 * HOUR, "5"))  # arrives after a newer one
    apply_event(profile, purchase(NOW - 40 * DAY, "1"))  # very late: lifetime and 90d only
    values = features(profile)
    assert (values["orders_1h"], values["orders_24h"], values["orders_30d"]) == (1, 2, 2)
    assert (values["orders_90d"], values["orders_lifetime"]) == (3, 3)


def test_memory_stays_bounded_over_two_years_of_heavy_traffic() -> None:
    profile = Profile("c1")
    rng = random.Random(7)
    for n in range(10_000):
        ts = T0 - 730 * DAY + n * (730 * DAY / 10_000) + rng.uniform(-HOUR, HOUR)
        apply_event(profile, purchase(ts, "9.99", items=[item(f"cat{n % 50}")]))
    for tier, kept in zip(b.TIERS, profile.tiers, strict=True):
        assert len(kept) <= tier.keep + 2
    assert len(profile.recent_event_ids) <= 256
    assert len(profile.affinity) <= 32
    assert len(encode_profile(profile)) < 20_000


def test_merge_equals_one_profile_fed_both_streams() -> None:
    visitor_events = sample_events(1, 40)
    customer_events = sample_events(2, 40)
    visitor, customer, together = Profile("anon"), Profile("c1"), Profile("c1")
    for event in visitor_events:
        apply_event(visitor, event)
    for event in customer_events:
        apply_event(customer, event)
    for event in sorted(visitor_events + customer_events, key=lambda e: e.ts):
        apply_event(together, event)
    merge_into(customer, visitor)
    left, right = features(customer), features(together)
    for name in [n for n in left if n.startswith("sessions_")]:
        del left[name], right[name]
    assert_same_features(left, right)
    assert customer.aliases == ["anon"]


def test_codec_round_trips_exactly() -> None:
    profile = Profile("c1")
    for event in sample_events(3, 200):
        apply_event(profile, event, source="events:1", offset=len(profile.recent_event_ids))
    profile.segments = {"big_spenders": 1.5}
    assert decode_profile(encode_profile(profile)) == profile
