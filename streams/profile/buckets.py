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
TIERS = (MINUTES, HOURS, DAYS)


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    tier: Tier
    buckets: int

    @property
    def seconds(self) -> int:
        return self.tier.width_s * self.buckets


WINDOWS = (
    Window("1h", MINUTES, 60),
    Window("24h", HOURS, 24),
    Window("7d", DAYS, 7),
    Window("30d", DAYS, 30),
    Window("90d", DAYS, 90),
)

Buckets = dict[int, list[int]]


def add(tiers: list[Buckets], watermark: float, ts: float, counter: int, amount: int) -> None:
    """Add ``amount`` to ``counter`` in the bucket of ``ts`` in every tier that still keeps it."""
    for tier, buckets in zip(TIERS, tiers, strict=True):
        index = int(ts // tier.width_s)
        if index < int(watermark // tier.width_s) - tier.keep:
            continue  # too old for any window of this tier
        bucket = buckets.get(index)
        if bucket is None:
            bucket = buckets[index] = [0] * N_COUNTERS
        bucket[counter] += amount


def prune(tiers: list[Buckets], watermark: float) -> None:
    """Drop buckets no window can reach from ``watermark`` on."""
    for tier, buckets in zip(TIERS, tiers, strict=True):
        oldest = int(watermark // tier.width_s) - tier.keep
        for index in [index for index in buckets if index < oldest]:
            del buckets[index]


def window_sum(tiers: list[Buckets], window: Window, now: float, counter: int) -> int:
    """Sum of ``counter`` over ``window`` ending at the bucket that holds ``now``."""
    buckets = tiers[TIERS.index(window.tier)]
    newest = int(now // window.tier.width_s)
    oldest = newest - window.buckets + 1
    return sum(values[counter] for index, values in buckets.items() if oldest <= index <= newest)


def merge(into: list[Buckets], other: list[Buckets]) -> None:
    """Add every bucket of ``other`` into ``into`` (used when two profiles merge)."""
    for mine, theirs in zip(into, other, strict=True):
        for index, values in theirs.items():
            bucket = mine.setdefault(index, [0] * N_COUNTERS)
            for position, value in enumerate(values):
                bucket[position] += value
