"""Merging a visitor into a customer equals one profile that saw both event streams."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.events import schemas as ev
from streams.profile import (
    DEFAULT_CONFIG,
    Profile,
    ProfileConfig,
    apply_event,
    compute_features,
    merge_into,
)
from streams.profile import buckets as b
from tests.streams.profile.test_apply import DAY, HOUR, NOW, assert_same_features, events, make


def fed(profile_id: str, *streams: list[ev.Event], anonymous: bool = False) -> Profile:
    profile = Profile(profile_id, anonymous=anonymous)
    for stream in streams:
        for event in stream:
            apply_event(profile, event)
    return profile


def merged(visitor_events: list[ev.Event], customer_events: list[ev.Event]) -> Profile:
    customer = fed("c1", customer_events)
    merge_into(customer, fed("v1", visitor_events, anonymous=True))
    return customer


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), max_size=30), st.lists(events(), max_size=30))
def test_merge_equals_one_profile_fed_both_streams(
    visitor_events: list[ev.Event], customer_events: list[ev.Event]
) -> None:
    combined = merged(visitor_events, customer_events)
    together = fed("c1", customer_events, visitor_events)
    # Counters, windows, recency, traits, consent and affinity (within tolerance) agree; session
    # counts add up per profile, as each side counted them.
    assert_same_features(
        compute_features(combined, NOW), compute_features(together, NOW), skip="sessions_"
    )
    visitor, customer = fed("v1", visitor_events), fed("c1", customer_events)
    assert combined.sessions == visitor.sessions + customer.sessions
    for name in ("orders", "spend_cents", "discount_cents", "items", "page_views", "cart_adds"):
        assert getattr(combined, name) == getattr(together, name), name
    assert (combined.first_seen, combined.last_seen) == (together.first_seen, together.last_seen)
    for tier, kept in zip(b.TIERS, combined.tiers, strict=True):
        assert len(kept) <= tier.keep + 1


def test_merge_into_an_empty_customer_gives_the_visitor_s_features() -> None:
    visitor_events = [
        make(
            "purchase",
            NOW - n * DAY,
            anonymous_id="v1",
            order_id=f"o{n}",
            total="10",
            items=[{"sku": "s", "category": "toys", "unit_price": "10"}],
        )
        for n in range(5)
    ]
    combined = merged(visitor_events, [])
    features = compute_features(combined, NOW)
    assert features == compute_features(fed("c1", visitor_events), NOW)
    assert features["is_anonymous"] is False


def test_merge_records_the_alias_and_bumps_the_version() -> None:
    customer = fed("c1", [make("search", NOW, query="q")])
    visitor = Profile("v2", anonymous=True, aliases=["v0"], merged_into="c1")
    customer.aliases = ["v9"]
    merge_into(customer, visitor)
    assert customer.aliases == ["v0", "v2", "v9"]
    assert (customer.version, customer.merged_into, customer.anonymous) == (2, None, False)
    merge_into(customer, Profile("c1", aliases=["c1"]))  # never its own alias
    assert "c1" not in customer.aliases


def test_after_a_merge_the_visitor_s_events_are_recognised_as_duplicates() -> None:
    seen = make("purchase", NOW, anonymous_id="v1", order_id="o", total="10")
    combined = merged([seen], [make("search", NOW, query="q")])
    assert apply_event(combined, seen) is False
    assert combined.orders == 1


def test_remembered_ids_stay_bounded_and_unique_after_a_merge() -> None:
    limit = DEFAULT_CONFIG.remembered_event_ids
    shared = make("search", NOW, query="q")
    visitor = fed("v1", [shared] + [make("search", NOW, query="q") for _ in range(200)])
    customer = fed("c1", [shared] + [make("search", NOW, query="q") for _ in range(200)])
    merge_into(customer, visitor)
    assert len(customer.recent_event_ids) == limit
    assert len(set(customer.recent_event_ids)) == limit


def test_recency_takes_the_latest_and_first_seen_the_earliest() -> None:
    visitor = fed(
        "v1",
        [
            make("purchase", NOW - DAY, anonymous_id="v1", order_id="o", total="1"),
            make("page_view", NOW - 2 * DAY, anonymous_id="v1", url="/"),
        ],
    )
    customer = fed("c1", [make("add_to_cart", NOW - HOUR, sku="s", category="x", unit_price="1")])
    merge_into(customer, visitor)
    assert (customer.first_seen, customer.last_seen, customer.last_visit) == (
        NOW - 2 * DAY,
        NOW - HOUR,
        NOW - HOUR,
    )
    assert (customer.last_purchase, customer.last_cart_add, customer.last_checkout) == (
        NOW - DAY,
        NOW - HOUR,
        None,
    )


def test_an_empty_visitor_changes_nothing_but_the_alias() -> None:
    customer = fed("c1", [make("purchase", NOW, order_id="o", total="10")])
    before = compute_features(customer, NOW)
    merge_into(customer, Profile("v1", anonymous=True))
    assert compute_features(customer, NOW) == before


def test_buckets_older_than_the_merged_watermark_allows_are_dropped() -> None:
    visitor = fed("v1", [make("page_view", NOW - 20 * DAY, anonymous_id="v1", url="/")])
    assert [len(kept) for kept in visitor.tiers] == [1, 1, 1]
    customer = fed("c1", [make("page_view", NOW, url="/")])
    merge_into(customer, visitor)
    assert [len(kept) for kept in customer.tiers] == [1, 1, 2]  # only days reach 20 days back
    assert compute_features(customer, NOW)["page_views_30d"] == 2


def test_affinity_is_rescaled_to_the_newer_reference() -> None:
    half_life = DEFAULT_CONFIG.affinity_half_life_s
    visitor = fed(
        "v1", [make("product_view", NOW - half_life, anonymous_id="v1", sku="s", category="books")]
    )
    customer = fed(
        "c1",
        [
            make("product_view", NOW, sku="s", category="books"),
            make("product_view", NOW, sku="s", category="toys"),
        ],
    )
    merge_into(customer, visitor)
    assert customer.affinity_ref == NOW
    assert customer.affinity == pytest.approx({"books": 1.5, "toys": 1.0})


def test_affinity_keeps_the_strongest_categories_after_a_merge() -> None:
    config = ProfileConfig(max_categories=2)
    visitor = Profile("v1", affinity={"a": 3.0, "b": 1.0}, affinity_ref=NOW)
    customer = Profile("c1", affinity={"b": 1.5, "c": 2.0}, affinity_ref=NOW)
    merge_into(customer, visitor, config)
    assert customer.affinity == {"a": 3.0, "b": 2.5}


def test_devices_add_and_channels_stay_within_their_limit() -> None:
    limit = DEFAULT_CONFIG.max_channels
    visitor = Profile("v1", devices={"mobile": 2}, channels={f"v{n}": 1 for n in range(limit)})
    visitor.channels["shared"] = 5
    customer = Profile(
        "c1",
        devices={"mobile": 1, "app": 1},
        channels={f"c{n}": 2 for n in range(limit - 1)} | {"shared": 1},
    )
    merge_into(customer, visitor)
    assert customer.devices == {"mobile": 3, "app": 1}
    # Regression: merges used to let channels grow past max_channels. The most used are kept.
    assert len(customer.channels) == limit
    assert customer.channels["shared"] == 6
    assert all(customer.channels[f"c{n}"] == 2 for n in range(limit - 1))


# --- consent and traits -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("visitor", "customer", "expected"),
    [
        ((None, True), (None, True), True),  # nobody decided: the default
        ((NOW, False), (None, True), False),  # the visitor opted out
        ((NOW - DAY, False), (NOW, True), True),  # then opted in as a customer
        ((NOW, False), (NOW - DAY, True), False),  # opted out after the customer's opt-in
        ((NOW, True), (NOW, False), False),  # decided at the same instant: opt out
        ((None, False), (NOW, True), False),  # untimed (codec v1) opt-out stays conservative
    ],
)
def test_consent_follows_the_latest_decision_of_either_profile(
    visitor: tuple[float | None, bool], customer: tuple[float | None, bool], expected: bool
) -> None:
    source = Profile("v1", consent=visitor[1], consent_ts=visitor[0])
    target = Profile("c1", consent=customer[1], consent_ts=customer[0])
    merge_into(target, source)
    assert target.consent is expected


def test_traits_follow_the_latest_event_of_either_profile() -> None:
    visitor = fed(
        "v1",
        [make("traits", NOW, anonymous_id="v1", traits={"city": "Bonn", "age": 41, "gender": "m"})],
    )
    customer = fed(
        "c1",
        [
            make("traits", NOW - DAY, traits={"city": "Berlin", "age": 40}),
            make("traits", NOW + 1, traits={"age": 42}),
        ],
    )
    merge_into(customer, visitor)
    assert customer.traits == {"city": "Bonn", "age": 42, "gender": "m"}
    assert customer.trait_ts == {"city": NOW, "age": NOW + 1, "gender": NOW}


def test_untimed_traits_from_old_state_only_fill_gaps() -> None:
    visitor = Profile("v1", traits={"city": "Bonn", "gender": "m"})  # codec v1: no trait times
    customer = Profile("c1", traits={"city": "Berlin"}, trait_ts={"city": NOW})
    merge_into(customer, visitor)
    assert customer.traits == {"city": "Berlin", "gender": "m"}
    assert customer.trait_ts == {"city": NOW}


def test_merge_leaves_published_segments_to_the_pipeline() -> None:
    customer = Profile("c1", segments={"big_spenders": NOW})
    merge_into(customer, Profile("v1", segments={"window_shoppers": NOW}))
    assert customer.segments == {"big_spenders": NOW}
