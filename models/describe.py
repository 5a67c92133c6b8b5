"""Human-readable cluster descriptions generated from centroids.

Centroids live in scaled units (standard deviations from the population mean), so each coordinate
already says how unusual the cluster is on that feature. The description names the most distinctive
features, strongest first, with a phrase for the high or the low side.

>>> describe(("log:avg_order_value", "discount_share_of_orders", "affinity_share:fashion"),
...          (1.4, -0.9, 2.1))
'fashion-leaning · big baskets · discount-averse'
>>> describe(("log:avg_order_value",), (0.1,))
'close to the average customer'

For ``segstream clusters show``, the same ranking in the features' own units: a ``log:`` feature is
shown back-transformed (``expm1``, a geometric-mean-like typical value, not the arithmetic mean).

>>> scaler = Scaler(100, (math.log1p(20.0), 1.6), (0.25, 1.0))
>>> [str(d) for d in differences(("log:avg_order_value", "orders_lifetime"), scaler, (1.0, 2.5))]
['orders_lifetime 4.1 vs 1.6 overall', 'avg_order_value 33.6 vs 20 overall']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from models.features import AFFINITY_SHARE, LOG
from models.snapshot import Scaler

THRESHOLD = 0.5  # |z| below this is not distinctive
MOST = 4

# spec (without log:) -> (phrase when high, phrase when low); None: say nothing on that side.
PHRASES: dict[str, tuple[str | None, str | None]] = {
    "avg_order_value": ("big baskets", "small baskets"),
    "discount_share_of_orders": ("discount-driven", "discount-averse"),
    "discount_share_of_spend": ("discount-driven", "discount-averse"),
    "orders_30d/sessions_30d": ("buys most visits", "rarely buys"),
    "orders_90d/sessions_90d": ("buys most visits", "rarely buys"),
    "page_views_30d/sessions_30d": ("long browsing sessions", "short visits"),
    "cart_adds_30d/sessions_30d": ("fills carts", "seldom adds to cart"),
    "items_lifetime/orders_lifetime": ("many items per order", "few items per order"),
    "days_since_last_visit": ("lapsing", "recently active"),
    "days_since_last_purchase": ("long since last order", "ordered recently"),
}
for _window in ("1h", "24h", "7d", "30d", "90d", "lifetime"):
    PHRASES[f"spend_{_window}"] = ("high spend", "low spend")
    PHRASES[f"orders_{_window}"] = ("frequent", "infrequent")
    PHRASES[f"sessions_{_window}"] = ("visits often", "visits rarely")
    PHRASES[f"page_views_{_window}"] = ("heavy browsing", "light browsing")


def phrase(spec: str, z: float) -> str | None:
    """What a centroid coordinate ``z`` on feature ``spec`` says about the cluster."""
    base = spec.removeprefix(LOG)
    if base.startswith(AFFINITY_SHARE):
        return f"{base.removeprefix(AFFINITY_SHARE)}-leaning" if z > 0 else None
    high, low = PHRASES.get(base, (f"high {base}", f"low {base}"))
    return high if z > 0 else low


def describe(features: Sequence[str], centroid: Sequence[float]) -> str:
    ranked = sorted(zip(features, centroid, strict=True), key=lambda item: -abs(item[1]))
    words: list[str] = []
    for spec, z in ranked:
        if abs(z) < THRESHOLD or len(words) == MOST:
            break
        text = phrase(spec, z)
        if text is not None and text not in words:
            words.append(text)
    return " · ".join(words) if words else "close to the average customer"


@dataclass(frozen=True, slots=True)
class Difference:
    feature: str  # the spec, without ``log:`` when back-transformed
    cluster: float  # the centroid, in the feature's own units
    overall: float  # the population's mean, in the same units
    z: float  # the centroid in standard deviations from the population mean

    def __str__(self) -> str:
        return f"{self.feature} {self.cluster:.3g} vs {self.overall:.3g} overall"


def own_units(spec: str, value: float) -> tuple[str, float]:
    """A feature's value as a marketer reads it: ``log:`` features back through ``expm1``."""
    if spec.startswith(LOG):
        return spec.removeprefix(LOG), math.expm1(value)
    return spec, value


def differences(
    features: Sequence[str], scaler: Scaler, centroid: Sequence[float]
) -> list[Difference]:
    """Every feature of a centroid (in scaled units) against the population, most unusual first."""
    raw = scaler.unscale(tuple(centroid))
    out = []
    for spec, value, mean, z in zip(features, raw, scaler.mean, centroid, strict=True):
        name, shown = own_units(spec, value)
        out.append(Difference(name, shown, own_units(spec, mean)[1], z))
    return sorted(out, key=lambda d: -abs(d.z))
