"""When can a customer's membership change with no new event? The scheduler's question.

Membership depends on the clock through three kinds of features (see ``TIME_SHAPES`` in
:mod:`streams.profile.features`):

* since-event features (``seconds_since_last_cart_add``) grow linearly, so a comparison with a
  constant flips once, at *event time + constant * unit*;
* window sums (``orders_90d``) change only when a bucket enters or leaves the window, whatever
  expression surrounds them, so the bucket edges are the only instants to look at;
* affinities decay by one common factor, so ``affinity['x'] >= c`` (or a sum of affinities
  compared with a constant) flips when the score has decayed to ``c``.

Two since-event features in the same unit compared with each other never flip: both grow alike.
Any other mix of clock-driven features (``days_since_last_visit * 2 > orders_lifetime``) is not
solved here: rules holding one are re-checked every ``recheck_s`` instead, and ``segstream rules
check`` names them so the marketer can rewrite them.
"""

from __future__ import annotations

import ast
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass

from streams.profile import buckets as b
from streams.profile.features import TIME_SHAPES, Decaying, InWindow, SinceEvent
from streams.profile.state import DEFAULT_CONFIG, Profile, ProfileConfig

# Evaluate just after a boundary, so both `>` and `>=` comparisons have flipped by then.
AFTER_BOUNDARY_S = 0.001


@dataclass(frozen=True, slots=True)
class TimeDependence:
    """What in a condition moves with the clock, as far as the scheduler needs to know."""

    windows: frozenset[str] = frozenset()  # window names, e.g. "24h"
    since_thresholds: frozenset[tuple[str, float]] = frozenset()  # (feature, constant)
    affinity_thresholds: frozenset[tuple[tuple[str, ...], float]] = frozenset()  # (categories, c)
    unsolved: tuple[str, ...] = ()  # sub-conditions whose flip time cannot be computed

    def __or__(self, other: TimeDependence) -> TimeDependence:
        return TimeDependence(
            self.windows | other.windows,
            self.since_thresholds | other.since_thresholds,
            self.affinity_thresholds | other.affinity_thresholds,
            self.unsolved + tuple(u for u in other.unsolved if u not in self.unsolved),
        )

    @property
    def static(self) -> bool:
        """True when membership can only change with an event."""
        return not (
            self.windows or self.since_thresholds or self.affinity_thresholds or self.unsolved
        )


# Shapes of sub-expressions: ("const", value) | ("static", None) | ("since", feature)
# | ("decay", categories) | ("mixed", None)
Shape = tuple[str, object]
_STATIC: Shape = ("static", None)
_MIXED: Shape = ("mixed", None)


def analyze(source: str) -> TimeDependence:
    """The clock dependence of one (already validated) condition.

    >>> dep = analyze("cart_adds_24h > 0 and seconds_since_last_cart_add >= 1800")
    >>> sorted(dep.windows), sorted(dep.since_thresholds), dep.unsolved
    (['24h'], [('seconds_since_last_cart_add', 1800.0)], ())
    """
    text = source.strip()
    tree = ast.parse(text, mode="eval")
    windows = {
        shape.window.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Name)
        and isinstance(shape := TIME_SHAPES.get(node.id), InWindow)
    }
    found = _Found(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            for left, right in itertools.pairwise(sides):
                found.pair(node, _shape(left), _shape(right))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "between":
            value, low, high = (_shape(argument) for argument in node.args)
            found.pair(node, value, low)
            found.pair(node, value, high)
    return TimeDependence(
        frozenset(windows),
        frozenset(found.since),
        frozenset(found.affinity),
        tuple(found.unsolved),
    )


class _Found:
    def __init__(self, text: str) -> None:
        self.text = text
        self.since: set[tuple[str, float]] = set()
        self.affinity: set[tuple[tuple[str, ...], float]] = set()
        self.unsolved: list[str] = []

    def pair(self, node: ast.AST, left: Shape, right: Shape) -> None:
        kinds = {left[0], right[0]}
        if kinds <= {"const", "static"}:
            return
        moving, other = (left, right) if left[0] not in {"const", "static"} else (right, left)
        if other[0] == "const" and moving[0] == "since":
            self.since.add((str(moving[1]), float(other[1])))  # type: ignore[arg-type]
        elif other[0] == "const" and moving[0] == "decay":
            self.affinity.add((moving[1], float(other[1])))  # type: ignore[arg-type]
        elif left[0] == right[0] == "since" and _same_unit(left, right):
            return  # both grow alike: the comparison never flips with time alone
        else:
            part = " ".join((ast.get_source_segment(self.text, node) or "").split())
            if part not in self.unsolved:
                self.unsolved.append(part)


def _same_unit(left: Shape, right: Shape) -> bool:
    first, second = TIME_SHAPES[str(left[1])], TIME_SHAPES[str(right[1])]
    return isinstance(first, SinceEvent) and isinstance(second, SinceEvent) and (
        first.unit == second.unit
    )


def _shape(node: ast.AST) -> Shape:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return ("const", node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _shape(node.operand)
        return ("const", -inner[1]) if inner[0] == "const" else _negated(inner)  # type: ignore[operator]
    if isinstance(node, ast.Name):
        return ("since", node.id) if isinstance(TIME_SHAPES.get(node.id), SinceEvent) else _STATIC
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        if isinstance(TIME_SHAPES.get(node.value.id), Decaying):
            key = node.slice.value if isinstance(node.slice, ast.Constant) else ""
            return ("decay", (str(key).lower(),))
        return _STATIC
    if isinstance(node, ast.BinOp):
        return _combined(node.op, _shape(node.left), _shape(node.right))
    return _STATIC  # booleans, calls and the like: their own parts are analysed separately


def _negated(shape: Shape) -> Shape:
    return _STATIC if shape[0] == "static" else _MIXED


def _combined(op: ast.operator, left: Shape, right: Shape) -> Shape:
    kinds = {left[0], right[0]}
    if kinds <= {"const", "static"}:
        return _STATIC  # constants folded into arithmetic are not thresholds any more
    if isinstance(op, ast.Add) and left[0] == right[0] == "decay":
        return ("decay", (*left[1], *right[1]))  # type: ignore[misc]
    return _MIXED


def next_change(
    dependence: TimeDependence,
    profile: Profile,
    now: float,
    *,
    recheck_s: float,
    config: ProfileConfig = DEFAULT_CONFIG,
) -> float | None:
    """The first instant after ``now`` at which membership may change with no event, or None."""
    if dependence.static:
        return None
    candidates = [
        *_window_edges(dependence.windows, profile, now),
        *_since_crossings(dependence.since_thresholds, profile, now),
        *_affinity_crossings(dependence.affinity_thresholds, profile, now, config),
    ]
    if dependence.unsolved:
        candidates.append(now + recheck_s)
    future = [instant for instant in candidates if instant > now]
    return min(future) + AFTER_BOUNDARY_S if future else None


def _window_edges(names: frozenset[str], profile: Profile, now: float) -> list[float]:
    edges = []
    for name in names:
        window = b.WINDOWS_BY_NAME[name]
        width = window.tier.width_s
        current = int(now // width)
        for index in profile.tiers[window.tier_position]:
            leaves = index + window.buckets  # the bucket drops out when `now` enters this one
            if leaves > current:
                edges.append(float(leaves * width))
            if index > current:  # an event stamped in the future enters when its bucket starts
                edges.append(float(index * width))
    return edges


def _since_crossings(
    thresholds: frozenset[tuple[str, float]], profile: Profile, now: float
) -> list[float]:
    out = []
    for feature, constant in thresholds:
        shape = TIME_SHAPES[feature]
        assert isinstance(shape, SinceEvent)
        happened: float | None = getattr(profile, shape.attribute)
        if happened is not None:
            out.append(happened + max(constant, 0.0) * shape.unit)
    return out


def _affinity_crossings(
    thresholds: frozenset[tuple[tuple[str, ...], float]],
    profile: Profile,
    now: float,
    config: ProfileConfig,
) -> list[float]:
    out = []
    rate = math.log(2) / config.affinity_half_life_s
    for categories, constant in thresholds:
        score = sum(profile.affinity.get(category, 0.0) for category in categories)
        if constant > 0 and score > constant:
            out.append(profile.affinity_ref + math.log(score / constant) / rate)
    return out


def feature_dependence(names: Iterable[str]) -> TimeDependence:
    """The clock dependence of a value read from these profile features in any arithmetic (a
    cluster vector: ratios, logs): the edges of their windows, since a window sum changes only
    there. A since-event or decaying feature moves at every instant, so no edge bounds it: it is
    listed as unsolved and re-checked every ``recheck_s``, as an unsolved rule is.

    >>> dep = feature_dependence(["orders_30d", "sessions_30d", "avg_order_value"])
    >>> sorted(dep.windows), dep.unsolved
    (['30d'], ())
    >>> feature_dependence(["days_since_last_visit"]).unsolved
    ('days_since_last_visit',)
    """
    windows: set[str] = set()
    moving: list[str] = []
    for name in names:
        shape = TIME_SHAPES.get(name)
        if isinstance(shape, InWindow):
            windows.add(shape.window.name)
        elif shape is not None and name not in moving:
            moving.append(name)
    return TimeDependence(frozenset(windows), unsolved=tuple(moving))
