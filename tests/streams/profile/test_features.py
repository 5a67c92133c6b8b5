"""Every feature against hand-computed values, and the window edges.

Window semantics (docs/features.md): a window counts whole buckets ending with the bucket that holds
``now``: minutes for 1h, hours for 24h, UTC days for 7d/30d/90d. So ``orders_24h`` at 12:30 counts
orders from 13:00 yesterday on: an order 23h59m ago counts only when ``now`` is in the last minute
of its hour, and an order in the hour bucket 24 hours back never counts. Events after ``now`` are in
no window (but in lifetime totals).
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter

from streams.events import schemas as ev
from streams.profile import FEATURE_NAMES, FEATURES, Profile, apply_event, compute_features
from streams.profile.features import FeatureView, features_markdown

MINUTE, HOUR, DAY = 60.0, 3600.0, 86_400.0
NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC).timestamp()  # Tuesday 12:30 UTC
HALF_LIFE = 30 * DAY
_EVENT: TypeAdapter[ev.Event] = TypeAdapter(ev.Event)
_ids = itertools.count()


def make(kind: str, ts: float, **fields: Any) -> ev.Event:
    """A validated event of customer c1 (pass customer_id/anonymous_id to change that)."""
    ids = {"customer_id": "c1"} if "anonymous_id" not in fields else {}
    return _EVENT.validate_python(
        {
            "type": kind,
            "event_id": f"f{next(_ids)}",
            "ts": datetime.fromtimestamp(ts, UTC),
            **ids,
            **fields,
        }
    )


def line(category: str, price: str, quantity: int = 1, discount: str = "0") -> dict[str, Any]:
    return {
        "sku": f"sku-{category}",
        "category": category,
        "unit_price": price,
        "quantity": quantity,
        "discount": discount,
    }


def profile_of(*events: ev.Event, profile_id: str = "c1") -> Profile:
    profile = Profile(profile_id)
    for event in events:
        assert apply_event(profile, event)
    return profile


def decayed(weight: float, age_s: float) -> float:
    return weight * math.pow(0.5, age_s / HALF_LIFE)


# --- the whole catalogue, computed by hand ----------------------------------------------------

DESKTOP_WEB = {"device": "desktop", "channel": "web"}
MOBILE_EMAIL = {"device": "mobile", "channel": "email"}
TRAITS = {
    "age": 34,
    "gender": "f",
    "income_band": "upper_middle",
    "household_size": 3,
    "has_children": True,
    "occupation": "engineer",
    "life_stage": "young_family",
    "country": "DE",
    "region": "Berlin",
    "city": "Berlin",
    "interests": ["yoga", "travel"],
    "lifestyle": "active",
    "values": ["sustainability"],
    "needs": ["convenience"],
}

# In event-time order. Windows at NOW (Mar 10 12:30): 1h from 11:31, 24h from Mar 9 13:00,
# 7d from Mar 4, 30d from Feb 9, 90d from Dec 11.
HISTORY = [
    make(
        "page_view",
        NOW - 100 * DAY,
        url="/",
        category="Books",
        session_id="s1",
        context=DESKTOP_WEB,
    ),
    make(
        "purchase",
        NOW - 100 * DAY + 60,
        order_id="o1",
        total="20.00",
        items=[line("books", "20")],
        session_id="s1",
    ),
    make(
        "product_view",
        NOW - 60 * DAY,
        sku="h",
        category="home",
        session_id="s2",
        context=DESKTOP_WEB,
    ),
    make(
        "purchase",
        NOW - 60 * DAY + 120,
        order_id="o2",
        total="35.50",
        discount_total="4.50",
        coupon="NEWYEAR",
        items=[line("home", "20", 2)],
        session_id="s2",
    ),
    make(
        "purchase",
        NOW - 10 * DAY,
        order_id="o3",
        total="12.25",
        items=[line("books", "6"), line("toys", "6.25")],
        session_id="s3",
    ),
    make(
        "add_to_cart",
        NOW - 8 * DAY,
        sku="f",
        category="fashion",
        unit_price="33.33",
        session_id="s4",
    ),
    make(
        "purchase",
        NOW - 3 * DAY,
        order_id="o4",
        total="99.99",
        items=[line("fashion", "35", 3, discount="5.01")],
        session_id="s5",
    ),
    make("page_view", NOW - 25 * HOUR, url="/", session_id="s6", context=MOBILE_EMAIL),
    make("purchase", NOW - 5 * HOUR, order_id="o5", total="7", session_id="s7"),
    make("page_view", NOW - 2 * HOUR, url="/", session_id="s8", context=MOBILE_EMAIL),
    make("product_view", NOW - 45 * MINUTE, sku="f", category="fashion", session_id="s9"),
    make(
        "add_to_cart",
        NOW - 30 * MINUTE,
        sku="f",
        category="fashion",
        unit_price="35",
        session_id="s9",
    ),
    make("search", NOW - 20 * MINUTE, query="red dress", session_id="s9"),
    make("checkout_started", NOW - 15 * MINUTE, cart_value="35", session_id="s9"),
    make("remove_from_cart", NOW - 12 * MINUTE, sku="f", session_id="s9"),
    make(
        "purchase",
        NOW - 10 * MINUTE,
        order_id="o6",
        total="1.26",
        coupon="X",
        items=[line("toys", "1.26")],
        session_id="s9",
    ),
    make(
        "page_view",
        NOW - 5 * MINUTE,
        url="/",
        session_id="s9",
        context={"device": "mobile", "channel": "web"},
    ),
    make("traits", NOW - MINUTE, traits=TRAITS),
]

EXPECTED: dict[str, Any] = {
    "is_anonymous": False,
    "consent_personalization": True,
    "first_seen_days_ago": 100.0,
    "days_since_last_visit": 5 * MINUTE / DAY,
    "seconds_since_last_visit": 300.0,
    "days_since_last_purchase": 10 * MINUTE / DAY,
    "seconds_since_last_purchase": 600.0,
    "days_since_last_cart_add": 30 * MINUTE / DAY,
    "seconds_since_last_cart_add": 1800.0,
    "days_since_last_checkout": 15 * MINUTE / DAY,
    "seconds_since_last_checkout": 900.0,
    # purchases: -100d 20.00 | -60d 35.50 discounted | -10d 12.25 | -3d 99.99 discounted |
    # -5h 7.00 | -10m 1.26 discounted
    **{
        f"orders_{w}": n
        for w, n in [("1h", 1), ("24h", 2), ("7d", 3), ("30d", 4), ("90d", 5), ("lifetime", 6)]
    },
    **{
        f"spend_{w}": n
        for w, n in [
            ("1h", 1.26),
            ("24h", 8.26),
            ("7d", 108.25),
            ("30d", 120.5),
            ("90d", 156.0),
            ("lifetime", 176.0),
        ]
    },
    **{
        f"discounted_orders_{w}": n
        for w, n in [("1h", 1), ("24h", 1), ("7d", 2), ("30d", 2), ("90d", 3), ("lifetime", 3)]
    },
    # page and product views: -100d, -60d (product), -25h, -2h, -45m (product), -5m
    **{
        f"page_views_{w}": n
        for w, n in [("1h", 2), ("24h", 3), ("7d", 4), ("30d", 4), ("90d", 5), ("lifetime", 6)]
    },
    # sessions s1..s9 start at -100d, -60d, -10d, -8d, -3d, -25h, -5h, -2h, -45m
    **{
        f"sessions_{w}": n
        for w, n in [("1h", 1), ("24h", 3), ("7d", 5), ("30d", 7), ("90d", 8), ("lifetime", 9)]
    },
    # cart adds: -8d, -30m
    **{
        f"cart_adds_{w}": n
        for w, n in [("1h", 1), ("24h", 1), ("7d", 1), ("30d", 2), ("90d", 2), ("lifetime", 2)]
    },
    "avg_order_value": 176.0 / 6,
    "discount_share_of_spend": 951 / (17_600 + 951),  # 4.50 + 5.01 + 0 of 176.00 + 9.51
    "discount_share_of_orders": 0.5,
    "items_lifetime": 1 + 2 + 2 + 3 + 0 + 1,
    "product_views_lifetime": 2,
    "searches_lifetime": 1,
    "checkouts_lifetime": 1,
    "preferred_device": "mobile",  # mobile 3, desktop 2
    "preferred_channel": "web",  # web 3, email 2
    "top_category": "fashion",
    "affinity": {
        # page view 0.5, product view 1, cart 3, purchase 5 per item; halved every 30 days
        "books": decayed(0.5, 100 * DAY) + decayed(5, 100 * DAY - 60) + decayed(5, 10 * DAY),
        "home": decayed(1, 60 * DAY) + decayed(10, 60 * DAY - 120),
        "toys": decayed(5, 10 * DAY) + decayed(5, 10 * MINUTE),
        "fashion": decayed(3, 8 * DAY)
        + decayed(15, 3 * DAY)
        + decayed(1, 45 * MINUTE)
        + decayed(3, 30 * MINUTE),
    },
    **TRAITS,
}


def assert_features(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert actual.keys() == expected.keys()
    for name, value in expected.items():
        if name == "affinity":
            assert actual[name].keys() == value.keys()
            for category, score in value.items():
                assert actual[name][category] == pytest.approx(score, rel=1e-12), category
        elif isinstance(value, float):
            assert actual[name] == pytest.approx(value, rel=1e-12), name
            assert isinstance(actual[name], float), name
        else:
            assert actual[name] == value, name
            assert type(actual[name]) is type(value), name


def test_expected_values_cover_the_whole_catalogue() -> None:
    assert set(EXPECTED) == FEATURE_NAMES


def test_every_feature_of_a_full_history() -> None:
    assert_features(compute_features(profile_of(*HISTORY), NOW), EXPECTED)


def test_spend_features_are_exact_cents() -> None:
    features = compute_features(profile_of(*HISTORY), NOW)
    # 7.00 + 1.26 as floats is 8.26 exactly only because cents are summed as integers.
    assert features["spend_24h"] == 8.26
    assert features["spend_lifetime"] == 176.0


EMPTY: dict[str, Any] = {
    "is_anonymous": False,
    "consent_personalization": True,
    "first_seen_days_ago": None,
    **{
        f"{unit}_since_last_{event}": None
        for unit in ("days", "seconds")
        for event in ("visit", "purchase", "cart_add", "checkout")
    },
    **{
        f"{prefix}_{window}": 0
        for prefix in ("orders", "discounted_orders", "page_views", "sessions", "cart_adds")
        for window in ("1h", "24h", "7d", "30d", "90d", "lifetime")
    },
    **{f"spend_{window}": 0.0 for window in ("1h", "24h", "7d", "30d", "90d", "lifetime")},
    "avg_order_value": 0.0,
    "discount_share_of_spend": 0.0,
    "discount_share_of_orders": 0.0,
    "items_lifetime": 0,
    "product_views_lifetime": 0,
    "searches_lifetime": 0,
    "checkouts_lifetime": 0,
    "preferred_device": None,
    "preferred_channel": None,
    "top_category": None,
    "affinity": {},
    **dict.fromkeys(TRAITS),
}


def test_every_feature_of_an_empty_profile() -> None:
    assert set(EMPTY) == FEATURE_NAMES
    features = compute_features(Profile("c1"), NOW)
    assert features == EMPTY
    for name, value in EMPTY.items():
        assert type(features[name]) is type(value), name  # counts are ints, money is a float


def test_an_anonymous_visitor() -> None:
    features = compute_features(Profile("v1", anonymous=True), NOW)
    assert features["is_anonymous"] is True


def test_compute_features_returns_exactly_the_catalogue_in_its_order() -> None:
    assert list(compute_features(Profile("c1"), NOW)) == [f.name for f in FEATURES]
    assert len(FEATURE_NAMES) == len(FEATURES)  # no duplicate names
    view = FeatureView(Profile("c1"), NOW)
    assert len(view) == len(FEATURES)
    assert set(view) == FEATURE_NAMES


def test_catalogue_types_match_computed_values() -> None:
    features = compute_features(profile_of(*HISTORY), NOW)
    python_types = {
        "number": (int, float),
        "string": (str,),
        "bool": (bool,),
        "list": (list,),
        "map": (dict,),
    }
    for feature in FEATURES:
        assert isinstance(features[feature.name], python_types[feature.type]), feature.name


def test_markdown_lists_every_feature() -> None:
    text = features_markdown()
    assert all(f"| `{feature.name}` | {feature.type} |" in text for feature in FEATURES)


def test_feature_view_computes_on_first_access_and_rejects_unknown_names() -> None:
    profile = profile_of(make("purchase", NOW, order_id="o", total="10"))
    view = FeatureView(profile, NOW)
    assert view["spend_lifetime"] == 10.0
    profile.spend_cents = 0  # cached: a view is one profile at one time
    assert view["spend_lifetime"] == 10.0
    assert FeatureView(profile, NOW)["spend_lifetime"] == 0.0
    with pytest.raises(KeyError):
        view["no_such_feature"]


# --- windows ----------------------------------------------------------------------------------


def orders(feature: str, ts: float, now: float = NOW) -> int:
    value: int = compute_features(profile_of(make("purchase", ts, order_id="o", total="1")), now)[
        feature
    ]
    return value


@pytest.mark.parametrize(
    ("feature", "first_counted"),
    [
        ("orders_1h", NOW - 59 * MINUTE),  # 11:31:00: this minute and the 59 before
        ("orders_24h", NOW - 23 * HOUR - 30 * MINUTE),  # 13:00 yesterday: this hour + 23
        ("orders_7d", NOW - 6 * DAY - 12 * HOUR - 30 * MINUTE),  # Mar 4 00:00: today + 6 days
        ("orders_30d", NOW - 29 * DAY - 12 * HOUR - 30 * MINUTE),  # Feb 9 00:00
        ("orders_90d", NOW - 89 * DAY - 12 * HOUR - 30 * MINUTE),  # Dec 11 00:00
    ],
)
def test_window_counts_from_the_first_instant_of_its_oldest_bucket_not_a_second_before(
    feature: str, first_counted: float
) -> None:
    assert orders(feature, first_counted) == 1
    assert orders(feature, first_counted - 1) == 0
    assert orders("orders_lifetime", first_counted - 1) == 1


def test_24h_counts_an_order_23h59m_ago_when_now_is_in_the_last_minute_of_its_hour() -> None:
    now = datetime(2026, 3, 10, 12, 59, 30, tzinfo=UTC).timestamp()
    assert orders("orders_24h", now - 23 * HOUR - 59 * MINUTE, now) == 1  # Mar 9 13:00:30


def test_24h_skips_an_order_in_the_hour_bucket_24_hours_back_even_if_under_24h_ago() -> None:
    now = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC).timestamp()
    assert orders("orders_24h", now - 23 * HOUR - 59 * MINUTE, now) == 0  # Mar 9 12:01:30
    assert orders("orders_24h", now - 23 * HOUR, now) == 1  # Mar 9 13:00:30


def test_an_order_exactly_on_an_hour_boundary_belongs_to_the_hour_it_opens() -> None:
    boundary = NOW - 23 * HOUR - 30 * MINUTE  # Mar 9 13:00:00, first second of the window
    assert orders("orders_24h", boundary) == 1
    assert orders("orders_24h", boundary - 0.001) == 0


def test_when_now_is_on_a_boundary_its_bucket_is_the_new_one() -> None:
    midnight = datetime(2026, 3, 10, tzinfo=UTC).timestamp()
    assert orders("orders_7d", midnight - 6 * DAY, midnight) == 1  # Mar 4 00:00
    assert orders("orders_7d", midnight - 6 * DAY - 1, midnight) == 0  # Mar 3 23:59:59
    assert orders("orders_1h", midnight - 59 * MINUTE, midnight) == 1
    assert orders("orders_1h", midnight - 59 * MINUTE - 1, midnight) == 0


def test_day_windows_follow_utc_days_not_24_hour_spans() -> None:
    late = datetime(2026, 3, 3, 23, 59, tzinfo=UTC).timestamp()
    early_now = datetime(2026, 3, 10, 0, 1, tzinfo=UTC).timestamp()  # 6d 0h 2m later
    assert orders("orders_7d", late, early_now) == 0
    just_after = datetime(2026, 3, 4, 0, 0, tzinfo=UTC).timestamp()
    late_now = datetime(2026, 3, 10, 23, 59, tzinfo=UTC).timestamp()  # 6d 23h 59m later
    assert orders("orders_7d", just_after, late_now) == 1


def test_an_order_in_the_current_bucket_counts_in_every_window() -> None:
    features = compute_features(profile_of(make("purchase", NOW, order_id="o", total="12.34")), NOW)
    for window in ("1h", "24h", "7d", "30d", "90d", "lifetime"):
        assert (features[f"orders_{window}"], features[f"spend_{window}"]) == (1, 12.34)


def test_events_after_now_are_in_no_window_but_in_lifetime_and_recency_clamps_to_zero() -> None:
    profile = profile_of(
        make("purchase", NOW + MINUTE, order_id="o", total="5"),
        make("add_to_cart", NOW + HOUR, sku="s", category="x", unit_price="1"),
    )
    features = compute_features(profile, NOW)
    assert (features["orders_1h"], features["orders_24h"], features["orders_lifetime"]) == (0, 1, 1)
    assert (features["cart_adds_1h"], features["cart_adds_24h"], features["cart_adds_7d"]) == (
        0,
        0,
        1,
    )
    assert features["seconds_since_last_purchase"] == 0.0
    assert features["first_seen_days_ago"] == 0.0


def test_features_move_with_now() -> None:
    profile = profile_of(make("purchase", NOW, order_id="o", total="1"))
    assert [
        orders_at(profile, NOW + offset) for offset in (0, HOUR, DAY, 7 * DAY, 30 * DAY, 90 * DAY)
    ] == [
        (1, 1, 1, 1, 1),
        (0, 1, 1, 1, 1),  # 13:30: the 12:30 minute has left the hour
        (0, 0, 1, 1, 1),  # next day 12:30: the 12:00 hour has left the 24h window
        (0, 0, 0, 1, 1),
        (0, 0, 0, 0, 1),
        (0, 0, 0, 0, 0),
    ]


def orders_at(profile: Profile, now: float) -> tuple[int, ...]:
    features = compute_features(profile, now)
    return tuple(features[f"orders_{w}"] for w in ("1h", "24h", "7d", "30d", "90d"))


# --- single features --------------------------------------------------------------------------


def test_recency_in_days_and_seconds() -> None:
    profile = profile_of(make("purchase", NOW - 2 * DAY, order_id="o", total="5"))
    features = compute_features(profile, NOW)
    assert (features["days_since_last_purchase"], features["seconds_since_last_purchase"]) == (
        2.0,
        2 * DAY,
    )
    assert features["days_since_last_visit"] == 2.0  # a purchase is a visit
    assert features["days_since_last_cart_add"] is None
    assert features["days_since_last_checkout"] is None


def test_recency_takes_the_latest_event_whatever_the_arrival_order() -> None:
    late_first = profile_of(
        make("checkout_started", NOW - 60, cart_value="1"),
        make("checkout_started", NOW - 3600, cart_value="1"),
    )
    assert compute_features(late_first, NOW)["seconds_since_last_checkout"] == 60.0
    assert compute_features(late_first, NOW)["first_seen_days_ago"] == HOUR / DAY


def test_ratios() -> None:
    profile = profile_of(
        make("purchase", NOW, order_id="a", total="90", discount_total="10", coupon="X"),
        make("purchase", NOW, order_id="b", total="30"),
        make("purchase", NOW, order_id="c", total="30", items=[line("home", "40", discount="10")]),
    )
    features = compute_features(profile, NOW)
    assert features["avg_order_value"] == 50.0
    assert features["discount_share_of_spend"] == pytest.approx(20 / 170)
    assert features["discount_share_of_orders"] == pytest.approx(2 / 3)


def test_a_zero_total_order_counts_without_dividing_by_zero() -> None:
    profile = profile_of(make("purchase", NOW, order_id="free", total="0"))
    features = compute_features(profile, NOW)
    assert (features["orders_lifetime"], features["avg_order_value"]) == (1, 0.0)
    assert features["discount_share_of_spend"] == 0.0


def test_a_line_coupon_alone_does_not_make_an_order_discounted() -> None:
    coupon_line = {**line("home", "10"), "coupon": "FREESHIP"}
    profile = profile_of(make("purchase", NOW, order_id="o", total="10", items=[coupon_line]))
    assert compute_features(profile, NOW)["discounted_orders_lifetime"] == 0


@pytest.mark.parametrize(
    ("devices", "expected"),
    [
        (["mobile", "desktop", "mobile"], "mobile"),
        (["tablet", "app"], "app"),  # a tie goes to the alphabetically first
        (["tablet", "app", "tablet", "app", "other"], "app"),
    ],
)
def test_preferred_device(devices: list[str], expected: str) -> None:
    profile = profile_of(*[make("page_view", NOW, url="/", context={"device": d}) for d in devices])
    assert compute_features(profile, NOW)["preferred_device"] == expected


def test_preferred_channel_ties_break_alphabetically() -> None:
    profile = profile_of(
        *[
            make("page_view", NOW, url="/", context={"channel": c})
            for c in ("web", "email", "email", "web")
        ]
    )
    assert compute_features(profile, NOW)["preferred_channel"] == "email"


def test_top_category_ties_break_alphabetically() -> None:
    profile = profile_of(
        make("product_view", NOW, sku="a", category="toys"),
        make("product_view", NOW, sku="b", category="books"),
    )
    assert compute_features(profile, NOW)["top_category"] == "books"


def test_affinity_halves_after_one_half_life() -> None:
    profile = profile_of(
        make("product_view", NOW, sku="a", category="fashion"),
        make("add_to_cart", NOW, sku="b", category="books", unit_price="1"),
    )
    at = {
        offset: compute_features(profile, NOW + offset)["affinity"]
        for offset in (0, HALF_LIFE, 2 * HALF_LIFE)
    }
    assert at[0] == {"fashion": 1.0, "books": 3.0}
    assert at[HALF_LIFE] == pytest.approx({"fashion": 0.5, "books": 1.5}, rel=1e-12)
    assert at[2 * HALF_LIFE] == pytest.approx({"fashion": 0.25, "books": 0.75}, rel=1e-12)
    # Before the newest event nothing grows back.
    assert compute_features(profile, NOW - DAY)["affinity"] == at[0]


def test_affinity_categories_are_case_insensitive() -> None:
    profile = profile_of(
        make("product_view", NOW, sku="a", category="Fashion"),
        make("product_view", NOW, sku="a", category="FASHION"),
    )
    assert compute_features(profile, NOW)["affinity"] == {"fashion": 2.0}


def test_traits_are_features_and_later_traits_change_only_their_fields() -> None:
    profile = profile_of(
        make("traits", NOW, traits={"age": 24, "gender": "f", "interests": ["yoga"]}),
        make("traits", NOW + 1, traits={"city": "Berlin", "age": 25, "has_children": False}),
    )
    features = compute_features(profile, NOW)
    assert (features["age"], features["gender"], features["city"]) == (25, "f", "Berlin")
    assert (features["interests"], features["has_children"]) == (["yoga"], False)
    assert features["occupation"] is None


def test_consent_feature_follows_the_latest_consent() -> None:
    profile = profile_of(make("consent", NOW, personalization=False))
    assert compute_features(profile, NOW)["consent_personalization"] is False
    apply_event(profile, make("consent", NOW + 1, personalization=True))
    assert compute_features(profile, NOW)["consent_personalization"] is True


def test_recency_never_goes_negative_and_days_are_fractional() -> None:
    profile = profile_of(make("page_view", NOW - 36 * HOUR, url="/"))
    features = compute_features(profile, NOW)
    assert features["days_since_last_visit"] == 1.5
    assert math.isclose(features["seconds_since_last_visit"], 36 * HOUR)
