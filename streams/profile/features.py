"""The features rules are written against: names, types, meaning, and how to compute them.

``compute_features(profile, now)`` is the only bridge from profile state to rules and models;
the catalogue ``FEATURES`` documents it (``segstream features`` prints it, docs/features.md
lists it) and tests check the two never drift apart."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
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
_UNCOMPUTED: Any = object()  # a feature not read yet (None is a value: "never happened")
# Where a view caches a window's totals: not a feature name, so never confused with one.
_WINDOW_KEYS = {window.name: f"__window_{window.name}" for window in b.WINDOWS}


class FeatureView(Mapping[str, Any]):
    """The features of one profile at one time, each computed on first access.

    Rules usually read a handful of the ~80 features, so nothing is computed that no rule asks for.
    """

    __slots__ = ("_cache", "config", "now", "profile")

    def __init__(
        self, profile: Profile, now: float, config: ProfileConfig = DEFAULT_CONFIG
    ) -> None:
        self.profile = profile
        self.now = now
        self.config = config
        self._cache: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        value = self._cache.get(name, _UNCOMPUTED)
        if value is _UNCOMPUTED:
            compute = _COMPUTE.get(name)
            if compute is None:
                raise KeyError(name)
            value = self._cache[name] = compute(self)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(_ORDER)

    def __len__(self) -> int:
        return len(_ORDER)

    def window(self, window: b.Window) -> list[int]:
        key = _WINDOW_KEYS[window.name]
        totals: list[int] | None = self._cache.get(key)
        if totals is None:
            totals = self._cache[key] = b.window_totals(self.profile.tiers, window, self.now)
        return totals

    def affinity(self) -> dict[str, float]:
        affinity: dict[str, float] = self["affinity"]
        return affinity


def compute_features(
    profile: Profile, now: float, config: ProfileConfig = DEFAULT_CONFIG
) -> dict[str, Any]:
    """All features of ``profile`` as seen at ``now`` (epoch seconds), as a plain dict."""
    return dict(FeatureView(profile, now, config))


Compute = Callable[[FeatureView], Any]


def _ago(ts: float | None, now: float, unit: float) -> float | None:
    return None if ts is None else max(0.0, now - ts) / unit


def _most_used(counts: dict[str, int]) -> str | None:
    # Ties go to the alphabetically first name so the answer never depends on arrival order.
    return min(counts, key=lambda name: (-counts[name], name)) if counts else None


def _recency(attribute: str, unit: float) -> Compute:
    return lambda view: _ago(getattr(view.profile, attribute), view.now, unit)


def _windowed(window: b.Window, counter: int, scale: float = 1) -> Compute:
    if scale == 1:
        return lambda view: view.window(window)[counter]
    return lambda view: view.window(window)[counter] / scale


def _lifetime(attribute: str, scale: float = 1) -> Compute:
    if scale == 1:
        return lambda view: getattr(view.profile, attribute)
    return lambda view: getattr(view.profile, attribute) / scale


def _ratio(
    numerator: Callable[[Profile], float], denominator: Callable[[Profile], float]
) -> Compute:
    def compute(view: FeatureView) -> float:
        below = denominator(view.profile)
        return numerator(view.profile) / below if below else 0.0

    return compute


def _trait(name: str) -> Compute:
    return lambda view: view.profile.traits.get(name)


def _top_category(view: FeatureView) -> str | None:
    affinity = view.affinity()
    return min(affinity, key=lambda n: (-affinity[n], n)) if affinity else None


_WINDOW_COUNTERS = (
    ("orders", b.ORDERS, 1),
    ("spend", b.SPEND_CENTS, 100),
    ("discounted_orders", b.DISCOUNTED_ORDERS, 1),
    ("page_views", b.PAGE_VIEWS, 1),
    ("sessions", b.SESSIONS, 1),
    ("cart_adds", b.CART_ADDS, 1),
)
_LIFETIME_ATTRIBUTES = {
    "orders": ("orders", 1),
    "spend": ("spend_cents", 100),
    "discounted_orders": ("discounted_orders", 1),
    "page_views": ("page_views", 1),
    "sessions": ("sessions", 1),
    "cart_adds": ("cart_adds", 1),
}


def _compute_table() -> dict[str, Compute]:
    table: dict[str, Compute] = {
        "is_anonymous": lambda view: view.profile.anonymous,
        "consent_personalization": lambda view: view.profile.consent,
        "first_seen_days_ago": _recency("first_seen", DAY_S),
    }
    for event, attribute in _RECENCY:
        table[f"days_since_last_{event}"] = _recency(attribute, DAY_S)
        table[f"seconds_since_last_{event}"] = _recency(attribute, 1.0)
    for window in b.WINDOWS:
        for prefix, counter, scale in _WINDOW_COUNTERS:
            table[f"{prefix}_{window.name}"] = _windowed(window, counter, scale)
    for prefix, (attribute, scale) in _LIFETIME_ATTRIBUTES.items():
        table[f"{prefix}_lifetime"] = _lifetime(attribute, scale)
    table |= {
        "avg_order_value": _ratio(lambda p: p.spend_cents / 100, lambda p: p.orders),
        "discount_share_of_spend": _ratio(
            lambda p: p.discount_cents, lambda p: p.spend_cents + p.discount_cents
        ),
        "discount_share_of_orders": _ratio(lambda p: p.discounted_orders, lambda p: p.orders),
        "items_lifetime": _lifetime("items"),
        "product_views_lifetime": _lifetime("product_views"),
        "searches_lifetime": _lifetime("searches"),
        "checkouts_lifetime": _lifetime("checkouts"),
        "preferred_device": lambda view: _most_used(view.profile.devices),
        "preferred_channel": lambda view: _most_used(view.profile.channels),
        "top_category": _top_category,
        "affinity": lambda view: view.profile.affinity_at(view.now, view.config),
    }
    table |= {name: _trait(name) for name in TRAIT_FEATURES}
    return table


_RECENCY = (
    ("visit", "last_visit"),
    ("purchase", "last_purchase"),
    ("cart_add", "last_cart_add"),
    ("checkout", "last_checkout"),
)
_COMPUTE = _compute_table()
_ORDER = tuple(feature.name for feature in FEATURES)


# --- how features move with the clock alone ---------------------------------------------------
# Rules that read these can change a customer's membership while no event arrives; the scheduler
# (rules.timing) uses the shapes to find the next instant at which that can happen.


@dataclass(frozen=True, slots=True)
class SinceEvent:
    """``max(0, now - profile.<attribute>) / unit``: grows linearly once the event happened."""

    attribute: str
    unit: float


@dataclass(frozen=True, slots=True)
class InWindow:
    """A sum over a sliding window: changes only when a bucket enters or leaves the window."""

    window: b.Window


@dataclass(frozen=True, slots=True)
class Decaying:
    """Time-decayed affinities: every score shrinks by the same factor as time passes."""


TimeShape = SinceEvent | InWindow | Decaying


def _time_shapes() -> dict[str, TimeShape]:
    shapes: dict[str, TimeShape] = {"first_seen_days_ago": SinceEvent("first_seen", DAY_S)}
    for event, attribute in _RECENCY:
        shapes[f"days_since_last_{event}"] = SinceEvent(attribute, DAY_S)
        shapes[f"seconds_since_last_{event}"] = SinceEvent(attribute, 1.0)
    for window in b.WINDOWS:
        for prefix, _, _ in _WINDOW_COUNTERS:
            shapes[f"{prefix}_{window.name}"] = InWindow(window)
    shapes["affinity"] = Decaying()
    return shapes


# Every other feature (lifetime counts, traits, top_category, ...) stands still between events.
TIME_SHAPES: dict[str, TimeShape] = _time_shapes()


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
    lines += RULE_NOTES
    return "\n".join(lines) + "\n"


RULE_NOTES = [
    "",
    "## Categories",
    "",
    "`affinity['...']` and comparisons of `top_category` with quoted text name product categories.",
    "A category the shop does not have is refused (`unknown category 'fashon'; did you mean",
    "'fashion'?`) instead of silently reading 0. The categories are the ones the rule files list",
    "under a top-level `categories:` key (every file's lists count, case does not matter); when no",
    "file lists any, the default is the demo simulator's and CDNOW's: beauty, books, electronics,",
    "fashion, garden, grocery, home, kids, music, sports, toys. `segstream features` prints the",
    "categories in effect for `SEGSTREAM_RULES_DIR`.",
    "",
    "## Conditions that are refused",
    "",
    "- A condition that reads no feature and no segment (`true`, `1 == 1`): it would be the same",
    "  for every customer. A segment of all customers says so: `condition: everyone` (alone).",
    "- `in_segment()` chains longer than 32 references in a row (a refers to b, b to c, ...).",
    "- A key written twice in one segment; `holdout` numbers between 0 and 1: every number is a",
    "  percentage (`holdout: 10` and `holdout: 10%` both mean 10%, at most 50%), so write `10%`",
    "  for a tenth or `0.1%` for a thousandth.",
]
