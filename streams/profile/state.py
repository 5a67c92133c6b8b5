"""Per-customer profile state, updated incrementally, bounded in size, independent of event order.

Every update commutes: counters add, recency keeps the maximum, consent and traits keep the value
of the latest event time, decayed affinities are kept relative to a reference time and rescaled, so
replaying the same events in any order yields the same profile. Session counts are the exception:
a session starts when the session id changes or after a gap, as the events arrive. A redelivered
message is recognised by its source offset, a re-sent event by its id."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from streams.profile import buckets
from streams.profile.buckets import Buckets


@dataclass(frozen=True, slots=True)
class ProfileConfig:
    affinity_half_life_s: float = 30 * 86_400.0
    remembered_event_ids: int = 256
    max_categories: int = 32
    max_channels: int = 16
    session_gap_s: float = 30 * 60.0


DEFAULT_CONFIG = ProfileConfig()
_LN2 = math.log(2)


def _empty_tiers() -> list[Buckets]:
    return [{} for _ in buckets.TIERS]


@dataclass(slots=True)
class Profile:
    """Everything segstream knows about one customer (or anonymous visitor)."""

    id: str
    anonymous: bool = False
    aliases: list[str] = field(default_factory=list)
    consent: bool = True
    version: int = 0
    first_seen: float | None = None
    last_seen: float | None = None  # newest event time: the watermark for buckets
    last_visit: float | None = None
    last_purchase: float | None = None
    last_cart_add: float | None = None
    last_checkout: float | None = None
    orders: int = 0
    spend_cents: int = 0
    discounted_orders: int = 0
    discount_cents: int = 0
    items: int = 0
    page_views: int = 0
    product_views: int = 0
    searches: int = 0
    cart_adds: int = 0
    cart_removes: int = 0
    checkouts: int = 0
    sessions: int = 0
    last_session: str | None = None
    tiers: list[Buckets] = field(default_factory=_empty_tiers)
    affinity: dict[str, float] = field(default_factory=dict)
    affinity_ref: float = 0.0
    devices: dict[str, int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    recent_event_ids: list[str] = field(default_factory=list)
    applied_offsets: dict[str, int] = field(default_factory=dict)
    segments: dict[str, float] = field(default_factory=dict)  # published: segment id -> since
    merged_into: str | None = None  # set on a visitor once it is known to be this customer
    # Event times of the consent decision and of each trait in force (codec version 2).
    consent_ts: float | None = None
    trait_ts: dict[str, float] = field(default_factory=dict)

    # --- redelivery --------------------------------------------------------------------------

    def already_applied(self, event_id: str, source: str, offset: int) -> bool:
        """True for a message at or before the last offset applied from ``source``, or a seen id."""
        if offset >= 0 and offset <= self.applied_offsets.get(source, -1):
            return True
        return event_id in self.recent_event_ids

    def remember(self, event_id: str, source: str, offset: int, config: ProfileConfig) -> None:
        if offset >= 0:
            offsets = self.applied_offsets
            if offset > offsets.get(source, -1):
                offsets[source] = offset
        ids = self.recent_event_ids
        ids.append(event_id)
        kept = config.remembered_event_ids
        if len(ids) > kept:
            del ids[: len(ids) - kept]
        self.version += 1

    # --- time --------------------------------------------------------------------------------

    def touch(self, ts: float) -> None:
        first = self.first_seen
        if first is None or ts < first:
            self.first_seen = ts
        last = self.last_seen
        if last is None or ts > last:
            self.last_seen = ts
            # A bucket can only fall out of its tier when the watermark enters a new minute.
            if last is None or ts // 60 != last // 60:
                buckets.prune(self.tiers, ts, last)

    def count(self, ts: float, counter: int, amount: int = 1) -> None:
        for row in buckets.rows_for(self.tiers, self.last_seen or ts, ts):
            row[counter] += amount

    def count_many(self, ts: float, amounts: tuple[tuple[int, int], ...]) -> None:
        """Add several (counter, amount) pairs at ``ts``, locating the buckets once."""
        for row in buckets.rows_for(self.tiers, self.last_seen or ts, ts):
            for counter, amount in amounts:
                row[counter] += amount

    # --- latest-wins attributes ----------------------------------------------------------------

    def set_consent(self, allowed: bool, ts: float | None) -> None:
        """The latest decision holds whatever the arrival order; a tie, or no time, opts out."""
        decided = self.consent_ts
        if ts is not None and (decided is None or ts > decided):
            self.consent, self.consent_ts = allowed, ts
        elif ts is None or ts == decided:
            self.consent = self.consent and allowed

    def set_trait(self, name: str, value: Any, ts: float) -> None:
        """Keep the value of the latest event (a tie goes to the larger value) whatever the order.

        ``ts`` is -inf for a value of unknown time (state from codec version 1).
        """
        if name in self.traits and (ts, value) <= (
            self.trait_ts.get(name, -math.inf),
            self.traits[name],
        ):
            return
        self.traits[name] = value
        if math.isfinite(ts):
            self.trait_ts[name] = ts

    # --- affinities --------------------------------------------------------------------------

    def add_affinity(self, category: str, weight: float, ts: float, config: ProfileConfig) -> None:
        rate = _LN2 / config.affinity_half_life_s
        affinity, reference = self.affinity, self.affinity_ref
        if ts > reference:
            scale = math.exp(-rate * (ts - reference))
            for name, score in affinity.items():
                affinity[name] = score * scale  # a value replaced: the dict's shape holds
            self.affinity_ref = ts
            added = weight
        else:
            added = weight * math.exp(-rate * (reference - ts))
        key = category.lower()
        affinity[key] = affinity.get(key, 0.0) + added
        if len(affinity) > config.max_categories:
            weakest = min(affinity, key=affinity.__getitem__)
            del affinity[weakest]

    def affinity_at(self, now: float, config: ProfileConfig) -> dict[str, float]:
        rate = _LN2 / config.affinity_half_life_s
        scale = math.exp(-rate * max(0.0, now - self.affinity_ref))
        return {name: score * scale for name, score in self.affinity.items()}
