"""Every feature against hand-computed values, including window edges.

Window semantics (docs/features.md): a window counts whole buckets ending with the bucket that holds
"now" — minutes for 1h, hours for 24h, UTC days for 7d/30d/90d.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from streams.profile import FEATURE_NAMES, Profile, apply_event, compute_features
from streams.profile.features import FeatureView
from tests.streams.profile.events_for_tests import (
    DAY,
    HOUR,
    MINUTE,
    T0,
    add_to_cart,
    checkout,
    consent,
    item,
    page_view,
    product_view,
    purchase,
    search,
    traits,
)


def profile_of(*events: Any) -> Profile:
    profile = Profile("c1")
    for event in events:
        apply_event(profile, event)
    return profile


NOW = T0 + 30 * MINUTE  # 12:30 UTC


def test_computed_features_are_exactly_the_catalogue() -> None:
    assert set(compute_features(Profile("c1"), NOW)) == FEATURE_NAMES
    assert set(FeatureView(Profile("c1"), NOW)) == FEATURE_NAMES


def test_empty_profile() -> None:
    features = compute_features(Profile("c1"), NOW)
    assert features["orders_lifetime"] == 0
    assert features["spend_90d"] == 0
    assert features["days_since_last_purchase"] is None
    assert features["avg_order_value"] == 0.0
    assert features["discount_share_of_spend"] == 0.0
    assert features["top_category"] is None
    assert features["preferred_device"] is None
    assert features["consent_personalization"] is True


@pytest.mark.parametrize(
    ("feature", "inside", "outside"),
    [
        # 1h: minute buckets 11:31..12:30
        ("orders_1h", T0 - 29 * MINUTE, T0 - 30 * MINUTE),
        # 24h: hour buckets from 13:00 yesterday
        ("orders_24h", T0 - 23 * HOUR, T0 - 23 * HOUR - 1),
        # 7d: UTC days from Mar 4 00:00 (T0 is Mar 10 12:00)
        ("orders_7d", T0 - 6 * DAY - 12 * HOUR, T0 - 6 * DAY - 12 * HOUR - 1),
        ("orders_30d", T0 - 29 * DAY - 12 * HOUR, T0 - 29 * DAY - 12 * HOUR - 1),
        ("orders_90d", T0 - 89 * DAY - 12 * HOUR, T0 - 89 * DAY - 12 * HOUR - 1),
    ],
)
def test_window_edges(feature: str, inside: float, outside: float) -> None:
    assert compute_features(profile_of(purchase(inside, "10")), NOW)[feature] == 1
    assert compute_features(profile_of(purchase(outside, "10")), NOW)[feature] == 0
    both = compute_features(profile_of(purchase(inside, "10"), purchase(outside, "10")), NOW)
    assert both[feature] == 1
    assert both["orders_lifetime"] == 2


def test_an_event_in_the_current_bucket_counts_in_every_window() -> None:
    features = compute_features(profile_of(purchase(NOW, "12.34")), NOW)
    for window in ("1h", "24h", "7d", "30d", "90d", "lifetime"):
        assert features[f"orders_{window}"] == 1
        assert features[f"spend_{window}"] == 12.34


def test_spend_is_summed_in_exact_cents() -> None:
    events = [purchase(T0 - n * HOUR, "0.10") for n in range(3)] + [purchase(T0, "0.20")]
    features = compute_features(profile_of(*events), NOW)
    assert (
        features["spend_lifetime"] == 0.5
    )  # 0.1+0.1+0.1+0.2 in floats would be 0.5000000000000001
    assert features["spend_24h"] == 0.5


def test_recency_in_days_and_seconds() -> None:
    features = compute_features(
        profile_of(
            purchase(NOW - 2 * DAY, "5"),
            add_to_cart(NOW - 90),
            checkout(NOW - 30),
            page_view(NOW - 10),
        ),
        NOW,
    )
    assert features["days_since_last_purchase"] == 2.0
    assert features["seconds_since_last_cart_add"] == 90.0
    assert features["seconds_since_last_checkout"] == 30.0
    assert features["seconds_since_last_visit"] == 10.0
    assert features["first_seen_days_ago"] == 2.0


def test_order_value_and_discount_shares() -> None:
    profile = profile_of(
        purchase(T0, "90", discount="10", coupon="X"),
        purchase(T0, "30"),
        purchase(T0, "30", items=[item("home", "40", 1, discount="10")]),
    )
    features = compute_features(profile, NOW)
    assert features["avg_order_value"] == 50.0
    assert features["discount_share_of_spend"] == pytest.approx(20 / 170)
    assert features["discount_share_of_orders"] == pytest.approx(2 / 3)
    assert features["discounted_orders_lifetime"] == 2
    assert features["discounted_orders_24h"] == 2
    assert features["items_lifetime"] == 1


def test_sessions_by_id_and_by_half_hour_gap() -> None:
    profile = profile_of(
        page_view(T0, session="a"),
        page_view(T0 + 60, session="a"),
        product_view(T0 + 120, "home", session="b"),
        search(T0 + 10 * HOUR),  # no session id, first visit since: new session by gap
        search(T0 + 10 * HOUR + 20 * MINUTE),  # within 30 minutes: same session
    )
    features = compute_features(profile, T0 + 11 * HOUR)
    assert features["sessions_lifetime"] == 3
    assert features["page_views_lifetime"] == 3
    assert features["product_views_lifetime"] == 1
    assert features["searches_lifetime"] == 2
    assert features["page_views_1h"] == 0
    assert features["page_views_24h"] == 3


def test_cart_adds_and_checkouts() -> None:
    features = compute_features(profile_of(add_to_cart(T0), add_to_cart(T0), checkout(T0)), NOW)
    assert features["cart_adds_1h"] == 2
    assert features["cart_adds_lifetime"] == 2
    assert features["checkouts_lifetime"] == 1


def test_preferred_device_and_channel_ties_break_alphabetically() -> None:
    profile = profile_of(
        page_view(T0, device="mobile", channel="email"),
        page_view(T0, device="desktop", channel="web"),
        page_view(T0, device="mobile", channel="web"),
    )
    features = compute_features(profile, NOW)
    assert features["preferred_device"] == "mobile"
    assert features["preferred_channel"] == "web"
    tie = compute_features(
        profile_of(page_view(T0, device="tablet"), page_view(T0, device="app")), NOW
    )
    assert tie["preferred_device"] == "app"


def test_affinity_weights_and_half_life() -> None:
    profile = profile_of(
        product_view(T0, "fashion"),  # 1
        add_to_cart(T0, "fashion"),  # 3
        purchase(T0, "20", items=[item("books", quantity=2)]),  # 5 x 2
    )
    now = features_at = T0
    features = compute_features(profile, features_at)
    assert features["affinity"] == {"fashion": 4.0, "books": 10.0}
    assert features["top_category"] == "books"
    later = compute_features(profile, now + 30 * DAY)
    assert later["affinity"]["books"] == pytest.approx(5.0)
    assert later["affinity"]["fashion"] == pytest.approx(2.0)


def test_traits_are_features_and_later_traits_update_only_their_fields() -> None:
    profile = profile_of(
        traits(T0, age=24, gender="f", income_band="middle", country="DE", interests=["yoga"]),
        traits(T0 + 1, city="Berlin", age=25, has_children=False, needs=["price"]),
    )
    features = compute_features(profile, NOW)
    assert (features["age"], features["gender"], features["income_band"]) == (25, "f", "middle")
    assert (features["country"], features["city"]) == ("DE", "Berlin")
    assert features["interests"] == ["yoga"]
    assert features["needs"] == ["price"]
    assert features["has_children"] is False
    assert features["occupation"] is None


def test_consent_feature_follows_the_latest_consent_event() -> None:
    profile = profile_of(consent(T0, False))
    assert compute_features(profile, NOW)["consent_personalization"] is False
    apply_event(profile, consent(T0 + 1, True))
    assert compute_features(profile, NOW)["consent_personalization"] is True


def test_feature_view_computes_only_what_is_read() -> None:
    view = FeatureView(profile_of(purchase(T0, "10")), NOW)
    assert view["spend_lifetime"] == 10.0
    assert math.isclose(view["spend_24h"], 10.0)
    with pytest.raises(KeyError):
        view["no_such_feature"]
