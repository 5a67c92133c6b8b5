"""The features rules are written against: names, types, meaning, and how to compute them.

``compute_features(profile, now)`` is the only bridge from profile state to rules and models;
the catalogue ``FEATURES`` documents it (``segstream features`` prints it, docs/features.md
lists it) and tests check the two never drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from streams.profile import buckets as b
from streams.profile.state import DEFAULT_CONFIG, Profile, ProfileConfig

FeatureType = Literal["number", "string", "bool", "list", "map"]

TRAIT_FEATURES: dict[str, tuple[FeatureType, str]] = {
    "age": ("number", "Declared age in years (demographic)."),
    "gender": ("string", "Declared gender (demographic)."),
    "income_band": ("string", "low | lower_middle | middle | upper_middle | high (demographic)."),
    "household_size": ("number", "People in the household (demographic)."),
    "has_children": ("bool", "Children in the household (demographic)."),
    "occupation": ("string", "Occupation (demographic)."),
    "life_stage": ("string", "Life stage, e.g. student, young_family, retired (demographic)."),
    "country": ("string", "ISO country code declared in traits (geographic)."),
    "region": ("string", "Region or state (geographic)."),
    "city": ("string", "City (geographic)."),
    "interests": ("list", "Declared interests (psychographic)."),
    "lifestyle": ("string", "Lifestyle label (psychographic)."),
    "values": ("list", "Declared values, e.g. sustainability (psychographic)."),
    "needs": ("list", "Declared needs, e.g. convenience, price (needs-based)."),
}


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    type: FeatureType
    description: str


def _catalogue() -> tuple[Feature, ...]:
    out = [
        Feature("is_anonymous", "bool", "True while the visitor has not identified."),
        Feature("consent_personalization", "bool", "Personalization consent (default true)."),
        Feature("first_seen_days_ago", "number", "Days since the first event (null if none)."),
    ]
    for event in ("visit", "purchase", "cart_add", "checkout"):
        out.append(Feature(f"days_since_last_{event}", "number", f"Days since the last {event}."))
        out.append(Feature(f"seconds_since_last_{event}", "number", f"Seconds since last {event}."))
    for window in (*(w.name for w in b.WINDOWS), "lifetime"):
        span = (
            "over the customer's whole history" if window == "lifetime" else f"in the last {window}"
        )
        out += [
            Feature(f"orders_{window}", "number", f"Orders {span}."),
            Feature(f"spend_{window}", "number", f"Money spent {span} (order totals)."),
            Feature(f"discounted_orders_{window}", "number", f"Orders with a discount {span}."),
            Feature(f"page_views_{window}", "number", f"Page and product views {span}."),
            Feature(f"sessions_{window}", "number", f"Sessions {span}."),
            Feature(f"cart_adds_{window}", "number", f"Add-to-cart events {span}."),
        ]
    out += [
        Feature("avg_order_value", "number", "Lifetime spend / lifetime orders (0 if no order)."),
        Feature("discount_share_of_spend", "number", "Discount / (spend + discount), 0..1."),
        Feature("discount_share_of_orders", "number", "Discounted orders / orders, 0..1."),
        Feature("items_lifetime", "number", "Items bought over the whole history."),
        Feature("product_views_lifetime", "number", "Product views over the whole history."),
        Feature("searches_lifetime", "number", "Searches over the whole history."),
        Feature("checkouts_lifetime", "number", "Checkouts started over the whole history."),
        Feature("preferred_device", "string", "Most used device (null if unknown)."),
        Feature("preferred_channel", "string", "Most used channel (null if unknown)."),
        Feature("top_category", "string", "Category with the highest affinity (null if none)."),
        Feature("affinity", "map", "Category -> time-decayed interest (half-life 30 days)."),
    ]
    out += [Feature(name, kind, text) for name, (kind, text) in TRAIT_FEATURES.items()]
    return tuple(out)


FEATURES: tuple[Feature, ...] = _catalogue()
FEATURE_NAMES: frozenset[str] = frozenset(f.name for f in FEATURES)
DAY_S = 86_400.0


def compute_features(
    profile: Profile, now: float, config: ProfileConfig = DEFAULT_CONFIG
) -> dict[str, Any]:
    """All features of ``profile`` as seen at ``now`` (epoch seconds)."""
    values: dict[str, Any] = {
        "is_anonymous": profile.anonymous,
        "consent_personalization": profile.consent,
        "first_seen_days_ago": _ago(profile.first_seen, now, DAY_S),
    }
    for event, ts in (
        ("visit", profile.last_visit),
        ("purchase", profile.last_purchase),
        ("cart_add", profile.last_cart_add),
        ("checkout", profile.last_checkout),
    ):
        values[f"days_since_last_{event}"] = _ago(ts, now, DAY_S)
        values[f"seconds_since_last_{event}"] = _ago(ts, now, 1.0)
    _window_features(profile, now, values)
    _ratio_features(profile, values)
    affinity = profile.affinity_at(now, config)
    values["affinity"] = affinity
    values["top_category"] = min(affinity, key=lambda n: (-affinity[n], n)) if affinity else None
    values["preferred_device"] = _most_used(profile.devices)
    values["preferred_channel"] = _most_used(profile.channels)
    for name in TRAIT_FEATURES:
        values[name] = profile.traits.get(name)
    return values


def _window_features(profile: Profile, now: float, values: dict[str, Any]) -> None:
    for window in b.WINDOWS:
        suffix = window.name
        total = [
            b.window_sum(profile.tiers, window, now, counter) for counter in range(b.N_COUNTERS)
        ]
        values[f"orders_{suffix}"] = total[b.ORDERS]
        values[f"spend_{suffix}"] = total[b.SPEND_CENTS] / 100
        values[f"discounted_orders_{suffix}"] = total[b.DISCOUNTED_ORDERS]
        values[f"page_views_{suffix}"] = total[b.PAGE_VIEWS]
        values[f"sessions_{suffix}"] = total[b.SESSIONS]
        values[f"cart_adds_{suffix}"] = total[b.CART_ADDS]
    values["orders_lifetime"] = profile.orders
    values["spend_lifetime"] = profile.spend_cents / 100
    values["discounted_orders_lifetime"] = profile.discounted_orders
    values["page_views_lifetime"] = profile.page_views
    values["sessions_lifetime"] = profile.sessions
    values["cart_adds_lifetime"] = profile.cart_adds


def _ratio_features(profile: Profile, values: dict[str, Any]) -> None:
    orders, spend, discount = profile.orders, profile.spend_cents, profile.discount_cents
    values["avg_order_value"] = spend / orders / 100 if orders else 0.0
    values["discount_share_of_spend"] = discount / (spend + discount) if spend + discount else 0.0
    values["discount_share_of_orders"] = profile.discounted_orders / orders if orders else 0.0
    values["items_lifetime"] = profile.items
    values["product_views_lifetime"] = profile.product_views
    values["searches_lifetime"] = profile.searches
    values["checkouts_lifetime"] = profile.checkouts


def _ago(ts: float | None, now: float, unit: float) -> float | None:
    return None if ts is None else max(0.0, now - ts) / unit


def _most_used(counts: dict[str, int]) -> str | None:
    # Ties go to the alphabetically first name so the answer never depends on arrival order.
    return min(counts, key=lambda name: (-counts[name], name)) if counts else None


def features_markdown() -> str:
    """docs/features.md, generated from the catalogue so the two cannot drift."""
    lines = [
        "# Profile features",
        "",
        "Generated by `segstream features --markdown`; rules are written against these names.",
        "Windows (`_1h`, `_24h`, `_7d`, `_30d`, `_90d`) count whole buckets (minutes for 1h, hours",
        "for 24h, days for the rest) ending with the bucket that holds the evaluation time, so",
        "`orders_24h` at 10:20 counts orders from 11:00 yesterday onwards. Event time, not arrival",
        "time, decides the bucket: late events land where they belong. Money is in the order",
        "currency, summed exactly in cents. Recency features are null until the event first",
        "happens.",
        "",
        "| name | type | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{f.name}` | {f.type} | {f.description} |" for f in FEATURES]
    return "\n".join(lines) + "\n"
