"""Feature specs: plain, ratio, affinity share and log, read through a profile's FeatureView."""

from __future__ import annotations

import math

import pytest

from models.features import DEFAULT_FEATURES, FeatureExtractor, FeatureSpecError
from streams.profile import Profile
from streams.profile.features import FeatureView

NOW = 1_790_000_000.0


def shopper() -> Profile:
    profile = Profile("c1")
    profile.orders, profile.spend_cents, profile.sessions = 4, 40_000, 8
    profile.discounted_orders = 1
    profile.affinity, profile.affinity_ref = {"fashion": 3.0, "home": 1.0}, NOW
    return profile


def values(specs: str, profile: Profile) -> tuple[float, ...]:
    return FeatureExtractor.parse(specs).vector(FeatureView(profile, NOW))


def test_each_kind_of_spec() -> None:
    vector = values(
        "avg_order_value, log:avg_order_value, orders_lifetime/sessions_lifetime,"
        " affinity_share:fashion, affinity_share:toys, discount_share_of_orders",
        shopper(),
    )
    assert vector == pytest.approx((100.0, math.log1p(100.0), 0.5, 0.75, 0.0, 0.25))


def test_zero_denominators_and_an_empty_profile_give_zeros() -> None:
    assert values("orders_30d/sessions_30d, affinity_share:fashion", Profile("new")) == (0.0, 0.0)


def test_never_happened_recency_counts_as_long_ago_not_as_just_now() -> None:
    vector = values("days_since_last_purchase, log:days_since_last_visit", Profile("x"))
    assert vector == pytest.approx((365.0, math.log1p(365.0)))


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ("spend_forever", "'spend_forever' is not a numeric profile feature"),
        ("top_category", "'top_category' is not a numeric"),  # a string feature
        ("orders_30d/nothing", "'nothing' is not a numeric"),
        ("affinity_share:", "name a category"),
        ("", "no cluster features"),
        ("orders_30d, orders_30d", "repeated: orders_30d"),
    ],
)
def test_bad_specs_are_refused_with_the_reason(specs: str, message: str) -> None:
    with pytest.raises(FeatureSpecError, match=message):
        FeatureExtractor.parse(specs)


def test_fingerprint_names_the_layout() -> None:
    a = FeatureExtractor.parse("orders_30d, spend_30d")
    assert a.fingerprint == FeatureExtractor.parse(" orders_30d ,spend_30d").fingerprint
    assert a.fingerprint != FeatureExtractor.parse("spend_30d, orders_30d").fingerprint


def test_defaults_compile_and_stay_finite_on_an_empty_profile() -> None:
    vector = FeatureExtractor.parse(DEFAULT_FEATURES).vector(FeatureView(Profile("x"), NOW))
    assert len(vector) == len(DEFAULT_FEATURES)
    assert all(math.isfinite(x) for x in vector)


def test_the_profile_features_read_leave_affinity_shares_out_as_they_do_not_age() -> None:
    extractor = FeatureExtractor.parse(DEFAULT_FEATURES)
    assert extractor.profile_features == (
        "avg_order_value", "discount_share_of_orders", "orders_30d", "sessions_30d",
        "page_views_30d", "cart_adds_30d",
    )  # fmt: skip
    shares = FeatureExtractor.parse("affinity_share:fashion, affinity_share:home")
    assert shares.profile_features == ()
    now = shares.vector(FeatureView(shopper(), NOW))
    later = shares.vector(FeatureView(shopper(), NOW + 90 * 86_400.0))
    assert later == pytest.approx(now)
    assert now == pytest.approx((0.75, 0.25))
