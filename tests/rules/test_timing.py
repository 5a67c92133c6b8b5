"""The scheduler never misses a time-driven membership change and wakes up right at it."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from rules.loader import load_rule_texts, load_rules, rule_files
from rules.ruleset import RuleSet
from rules.timing import (
    AFTER_BOUNDARY_S,
    TimeDependence,
    analyze,
    feature_dependence,
    next_change,
)
from streams.profile import Profile, apply_event
from streams.profile.features import FeatureView
from tests.streams.profile.events_for_tests import (
    DAY,
    HOUR,
    MINUTE,
    T0,
    add_to_cart,
    item,
    page_view,
    product_view,
    purchase,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "rules" / "segments"
RECHECK_S = 3600.0


def rules_of(*conditions: str) -> RuleSet:
    lines = ["segments:"]
    for n, condition in enumerate(conditions):
        lines.append(f"  - {{id: s{n}, name: S, description: d, condition: {condition!r}}}")
    return load_rule_texts({"test.yaml": "\n".join(lines) + "\n"})


def test_since_event_comparison_with_a_constant_is_a_threshold() -> None:
    dep = analyze("seconds_since_last_cart_add >= 1800 and 30 < days_since_last_visit")
    assert dep.since_thresholds == {
        ("seconds_since_last_cart_add", 1800.0),
        ("days_since_last_visit", 30.0),
    }
    assert dep.unsolved == ()


def test_two_since_features_in_one_unit_never_flip_but_mixed_units_are_unsolved() -> None:
    assert analyze("seconds_since_last_purchase > seconds_since_last_cart_add").static
    mixed = analyze("days_since_last_visit > seconds_since_last_purchase")
    assert mixed.unsolved == ("days_since_last_visit > seconds_since_last_purchase",)


def test_arithmetic_on_clock_features_is_reported_as_unsolved() -> None:
    dep = analyze("days_since_last_visit * 2 > orders_lifetime or age > 3")
    assert dep.unsolved == ("days_since_last_visit * 2 > orders_lifetime",)
    assert not dep.since_thresholds


def test_between_windows_and_affinity_sums() -> None:
    dep = analyze(
        "between(seconds_since_last_visit, 60, 120) and orders_7d + cart_adds_1h > 1"
        " and affinity['Kids'] + affinity['toys'] >= 3"
    )
    assert dep.since_thresholds == {("seconds_since_last_visit", 60.0),
                                    ("seconds_since_last_visit", 120.0)}  # fmt: skip
    assert dep.windows == {"7d", "1h"}
    assert dep.affinity_thresholds == {(("kids", "toys"), 3.0)}


def test_static_rules_have_no_timer() -> None:
    rules = rules_of("orders_lifetime >= 2 and country == 'DE'")
    profile = Profile("c1")
    apply_event(profile, purchase(T0, "10"))
    assert rules.timing.static
    assert next_change(rules.timing, profile, T0, recheck_s=RECHECK_S) is None


def test_wakes_just_after_the_since_event_boundary() -> None:
    rules = rules_of("seconds_since_last_cart_add >= 1800")
    profile = Profile("c1")
    apply_event(profile, add_to_cart(T0))
    due = next_change(rules.timing, profile, T0 + 5, recheck_s=RECHECK_S)
    assert due == pytest.approx(T0 + 1800 + AFTER_BOUNDARY_S)
    assert not rules.members_of(FeatureView(profile, T0 + 1799.99))
    assert rules.members_of(FeatureView(profile, due or 0))


def test_wakes_when_the_last_bucket_leaves_the_window() -> None:
    rules = rules_of("orders_24h >= 1")
    profile = Profile("c1")
    apply_event(profile, purchase(T0 + 10 * MINUTE, "10"))
    due = next_change(rules.timing, profile, T0 + HOUR, recheck_s=RECHECK_S)
    # The order's hour bucket (12:00) leaves the 24-hour window when 12:00 the next day begins.
    assert due == pytest.approx(T0 + DAY + AFTER_BOUNDARY_S)
    assert rules.members_of(FeatureView(profile, T0 + DAY - 1))
    assert not rules.members_of(FeatureView(profile, due or 0))


def test_unsolved_rules_are_rechecked_periodically() -> None:
    rules = rules_of("days_since_last_visit * 2 > orders_lifetime")
    profile = Profile("c1")
    apply_event(profile, page_view(T0))
    assert next_change(rules.timing, profile, T0, recheck_s=RECHECK_S) == pytest.approx(
        T0 + RECHECK_S + AFTER_BOUNDARY_S
    )


def _random_profile(rng: random.Random, now: float) -> Profile:
    profile = Profile(f"c{rng.randrange(10**6)}")
    for _ in range(rng.randrange(1, 25)):
        ts = now - rng.uniform(0, 40 * DAY) ** rng.choice([1.0, 0.6])
        kind = rng.randrange(4)
        if kind == 0:
            apply_event(profile, page_view(ts, category="fashion"))
        elif kind == 1:
            apply_event(profile, product_view(ts, "kids"))
        elif kind == 2:
            apply_event(profile, add_to_cart(ts, "toys"))
        else:
            apply_event(profile, purchase(ts, str(rng.randrange(5, 400)), items=[item("fashion")]))
    return profile


def test_no_membership_change_is_missed_between_wake_ups() -> None:
    """Property: between two wake-ups membership is constant, on the example rules."""
    rules = load_rules(rule_files(EXAMPLES))
    extra = rules_of(
        "seconds_since_last_visit <= 600",
        "cart_adds_1h >= 1 and seconds_since_last_cart_add > 120",
        "orders_7d >= 1",
        "affinity['fashion'] >= 4",
    )
    rng = random.Random(11)
    for ruleset in (rules, extra):
        for _ in range(40):
            now = T0 + rng.uniform(0, DAY)
            profile = _random_profile(rng, now)
            for _ in range(5):  # follow the timer a few steps
                due = next_change(ruleset.timing, profile, now, recheck_s=RECHECK_S)
                horizon = due if due is not None else now + 120 * DAY
                before = ruleset.members_of(FeatureView(profile, now))
                for step in range(1, 60):
                    at = now + (horizon - AFTER_BOUNDARY_S - now) * step / 60
                    assert ruleset.members_of(FeatureView(profile, at)) == before, (at, due)
                if due is None:
                    break
                now = due


def test_union_of_dependences() -> None:
    one = TimeDependence(windows=frozenset({"1h"}), unsolved=("a",))
    two = TimeDependence(windows=frozenset({"7d"}), unsolved=("a", "b"))
    assert (one | two) == TimeDependence(windows=frozenset({"1h", "7d"}), unsolved=("a", "b"))


def test_a_feature_vector_moves_at_its_windows_edges_and_rechecks_continuous_features() -> None:
    windowed = feature_dependence(["orders_30d", "sessions_30d", "page_views_7d", "orders"])
    assert windowed.windows == {"30d", "7d"}
    assert windowed.unsolved == ()
    assert feature_dependence(["avg_order_value", "discount_share_of_orders"]).static
    continuous = feature_dependence(["days_since_last_visit", "first_seen_days_ago"])
    assert continuous.unsolved == ("days_since_last_visit", "first_seen_days_ago")
    assert next_change(continuous, Profile("c1"), T0, recheck_s=3600.0) == pytest.approx(
        T0 + 3600.0 + AFTER_BOUNDARY_S
    )
