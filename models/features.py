"""Feature vectors for clustering, read from a profile's :class:`FeatureView`.

A vector is described by a list of *feature specs*, one per dimension (setting
``SEGSTREAM_CLUSTER_FEATURES``):

``name``
    a numeric profile feature as rules see it, e.g. ``discount_share_of_orders``;
``a/b``
    the ratio of two numeric features, 0 when ``b`` is 0, e.g. ``orders_30d/sessions_30d``;
``affinity_share:cat``
    the category's share of the customer's decayed affinity, 0..1;
``log:<any of the above>``
    ``log1p`` of it, for money and counts.

Why ratios and shares rather than raw counts: a profile is sampled for training whenever it is
touched, mostly while young, and assigned later when it is old. Counts grow with age, so young and
old profiles of the same kind of shopper would land far apart; conversion per session, pages per
session, basket value and category shares settle after a few sessions. Why ``log1p`` on money and
counts: they are right-skewed (a few customers spend 100x the median), and k-means, which
measures squared distances, would otherwise spend its clusters on the tail. Scaling to unit
variance happens in the learner (online, :mod:`models.learner`), not here.

>>> from streams.profile import Profile
>>> extractor = FeatureExtractor.parse("log:avg_order_value, orders_lifetime/sessions_lifetime")
>>> extractor.names
('log:avg_order_value', 'orders_lifetime/sessions_lifetime')
>>> extractor.vector(FeatureView(Profile("c1"), now=0.0))
(0.0, 0.0)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from streams.profile.features import FEATURES, FeatureView


class _Shares:
    """Category shares of one profile's affinity, computed once per vector, on first use."""

    __slots__ = ("_shares", "view")

    def __init__(self, view: FeatureView) -> None:
        self.view = view
        self._shares: dict[str, float] | None = None

    def get(self, category: str) -> float:
        shares = self._shares
        if shares is None:
            affinity = self.view.affinity()
            total = sum(affinity.values())
            shares = self._shares = (
                {name: score / total for name, score in affinity.items()} if total > 0 else {}
            )
        return shares.get(category, 0.0)


Getter = Callable[[FeatureView, _Shares], float]

NUMERIC = frozenset(f.name for f in FEATURES if f.type == "number")
AFFINITY_SHARE = "affinity_share:"
LOG = "log:"
# Recency features are null until the event first happens: "never" is treated as very long ago.
NEVER_DAYS = 365.0


class FeatureSpecError(ValueError):
    """A feature spec that names no numeric feature or is malformed."""


def _plain(name: str) -> Getter:
    if name not in NUMERIC:
        raise FeatureSpecError(
            f"{name!r} is not a numeric profile feature (see segstream features)"
        )
    never = _never_value(name)

    def get(view: FeatureView, shares: _Shares) -> float:
        value = view[name]
        return never if value is None else float(value)

    return get


def _never_value(name: str) -> float:
    if name.startswith("days_since_") or name == "first_seen_days_ago":
        return NEVER_DAYS
    if name.startswith("seconds_since_"):
        return NEVER_DAYS * 86_400.0
    return 0.0


def _ratio(numerator: Getter, denominator: Getter) -> Getter:
    def get(view: FeatureView, shares: _Shares) -> float:
        below = denominator(view, shares)
        return numerator(view, shares) / below if below else 0.0

    return get


def _affinity_share(category: str) -> Getter:
    return lambda view, shares: shares.get(category)


def _log(inner: Getter) -> Getter:
    return lambda view, shares: math.log1p(max(inner(view, shares), 0.0))


def compile_spec(spec: str) -> Getter:
    """One spec to a function of a FeatureView; raises FeatureSpecError naming the problem."""
    text = spec.strip()
    if text.startswith(LOG):
        return _log(compile_spec(text.removeprefix(LOG)))
    if text.startswith(AFFINITY_SHARE):
        category = text.removeprefix(AFFINITY_SHARE)
        if not category:
            raise FeatureSpecError(f"{spec!r}: name a category, e.g. affinity_share:fashion")
        return _affinity_share(category)
    if "/" in text:
        top, _, bottom = text.partition("/")
        return _ratio(_plain(top.strip()), _plain(bottom.strip()))
    return _plain(text)


@dataclass(frozen=True, slots=True)
class FeatureExtractor:
    """The configured specs, compiled once; ``vector`` is called for every touched profile."""

    names: tuple[str, ...]
    getters: tuple[Getter, ...]

    @classmethod
    def parse(cls, specs: str | Sequence[str]) -> FeatureExtractor:
        """From a comma-separated string or a list; refuses an empty or repeated spec."""
        items = specs.split(",") if isinstance(specs, str) else list(specs)
        names = tuple(" ".join(item.split()) for item in items if item.strip())
        if not names:
            raise FeatureSpecError("no cluster features configured")
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise FeatureSpecError(f"cluster features repeated: {', '.join(repeated)}")
        return cls(names, tuple(compile_spec(name) for name in names))

    @property
    def fingerprint(self) -> str:
        """Names the vector layout, so a worker never assigns with a model of other features."""
        return feature_fingerprint(self.names)

    def vector(self, view: FeatureView) -> tuple[float, ...]:
        shares = _Shares(view)
        return tuple([get(view, shares) for get in self.getters])

    @property
    def profile_features(self) -> tuple[str, ...]:
        """The profile features the vector reads, for the scheduler (:mod:`rules.timing`).

        Affinity shares are left out: every score decays by the same factor, which cancels in a
        share, so a share moves only with events.

        >>> extractor = FeatureExtractor.parse("log:orders_30d/sessions_30d, affinity_share:home")
        >>> extractor.profile_features
        ('orders_30d', 'sessions_30d')
        """
        return tuple(dict.fromkeys(name for spec in self.names for name in _read_by(spec)))


def _read_by(spec: str) -> tuple[str, ...]:
    """The profile features one (valid) spec reads."""
    text = spec
    while text.startswith(LOG):
        text = text.removeprefix(LOG)
    if text.startswith(AFFINITY_SHARE):
        return ()
    return tuple(part.strip() for part in text.split("/"))


def feature_fingerprint(names: Sequence[str]) -> str:
    return hashlib.blake2b("\0".join(names).encode(), digest_size=6).hexdigest()


DEFAULT_FEATURES = (
    "log:avg_order_value",
    "discount_share_of_orders",
    "orders_30d/sessions_30d",
    "log:page_views_30d/sessions_30d",
    "cart_adds_30d/sessions_30d",
    *(
        f"{AFFINITY_SHARE}{category}"
        for category in (
            "fashion",
            "electronics",
            "home",
            "beauty",
            "sports",
            "books",
            "toys",
            "grocery",
            "kids",
            "garden",
        )
    ),
)
