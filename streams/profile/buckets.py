"""Fixed time buckets in three tiers, giving sliding-window counts with bounded memory.

A window of ``k`` buckets of width ``w`` evaluated at time ``now`` covers the bucket that holds
``now`` and the ``k - 1`` before it. Each tier keeps only the buckets that any of its windows
can still reach from the newest event time seen (the watermark), so memory is bounded however
long the history, and an out-of-order event lands in its own bucket whenever that bucket can
still matter."""

from __future__ import annotations

from dataclasses import dataclass

# Counters kept per bucket, by position.
ORDERS, SPEND_CENTS, DISCOUNTED_ORDERS, PAGE_VIEWS, SESSIONS, CART_ADDS = range(6)
COUNTER_NAMES = (
    "orders",
    "spend_cents",
    "discounted_orders",
    "page_views",
    "sessions",
    "cart_adds",
)
N_COUNTERS = len(COUNTER_NAMES)


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    width_s: int
    keep: int  # buckets retained behind the watermark's bucket (the longest window in this tier)


MINUTES = Tier("minute", 60, 60)
HOURS = Tier("hour", 3600, 24)
DAYS = Tier("day", 86_400, 90)
TIERS = (MINUTES, HOURS, DAYS)  # rows_for() unrolls this order for speed
_WIDTH_KEEP = tuple((tier.width_s, tier.keep) for tier in TIERS)


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    tier: Tier
    buckets: int
    tier_position: int  # index of ``tier`` in TIERS

    @property
    def seconds(self) -> int:
        return self.tier.width_s * self.buckets


WINDOWS = (
    Window("1h", MINUTES, 60, 0),
    Window("24h", HOURS, 24, 1),
    Window("7d", DAYS, 7, 2),
    Window("30d", DAYS, 30, 2),
    Window("90d", DAYS, 90, 2),
)
WINDOWS_BY_NAME = {window.name: window for window in WINDOWS}

Buckets = dict[int, list[int]]


def rows_for(tiers: list[Buckets], watermark: float, ts: float) -> list[list[int]]:
    """The counter rows of ``ts``'s bucket in every tier that still keeps it (created if new).

    Adding to each returned row counts an event at ``ts`` in all windows that can see it.
    """
    minutes, hours, days = tiers
    if ts >= watermark:  # the newest event (most are): its bucket is kept in every tier
        return [
            _row(minutes, int(ts // 60)),
            _row(hours, int(ts // 3600)),
            _row(days, int(ts // 86_400)),
        ]
    rows = []
    for width, keep, buckets in (
        (60, MINUTES.keep, minutes),
        (3600, HOURS.keep, hours),
        (86_400, DAYS.keep, days),
    ):
        index = int(ts // width)
        if index >= int(watermark // width) - keep:
            rows.append(_row(buckets, index))
    return rows


def _row(buckets: Buckets, index: int) -> list[int]:
    row = buckets.get(index)
    if row is None:
        row = buckets[index] = [0] * N_COUNTERS
    return row


def prune(tiers: list[Buckets], watermark: float, previous: float | None = None) -> None:
    """Drop buckets no window can reach from ``watermark`` on.

    With ``previous``, the watermark these tiers were last pruned at, a tier whose newest bucket is
    still the same lost nothing since (new buckets are never older than what it keeps), so it is
    skipped: the day tier is scanned once a day instead of on every new minute.
    """
    for (width, keep), buckets in zip(_WIDTH_KEEP, tiers, strict=True):
        newest = watermark // width  # a whole number as a float: compared without int()
        if (previous is not None and newest == previous // width) or not buckets:
            continue
        oldest = int(newest) - keep
        if min(buckets) < oldest:
            for index in [index for index in buckets if index < oldest]:
                del buckets[index]


def window_totals(tiers: list[Buckets], window: Window, now: float) -> list[int]:
    """Every counter summed over ``window`` ending at the bucket that holds ``now``."""
    newest = int(now // window.tier.width_s)
    oldest = newest - window.buckets + 1
    totals = [0] * N_COUNTERS
    for index, values in tiers[window.tier_position].items():
        if oldest <= index <= newest:
            for position, value in enumerate(values):
                totals[position] += value
    return totals


def merge(into: list[Buckets], other: list[Buckets]) -> None:
    """Add every bucket of ``other`` into ``into`` (used when two profiles merge)."""
    for mine, theirs in zip(into, other, strict=True):
        for index, values in theirs.items():
            bucket = mine.setdefault(index, [0] * N_COUNTERS)
            for position, value in enumerate(values):
                bucket[position] += value
