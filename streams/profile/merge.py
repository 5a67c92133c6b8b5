"""Combining two profiles of one person, when a visitor identifies as a known customer."""

from __future__ import annotations

import math

from streams.profile import buckets
from streams.profile.state import DEFAULT_CONFIG, Profile, ProfileConfig

_SUMMED = (
    "orders",
    "spend_cents",
    "discounted_orders",
    "discount_cents",
    "items",
    "page_views",
    "product_views",
    "searches",
    "cart_adds",
    "cart_removes",
    "checkouts",
    "sessions",
)
_LATEST = ("last_seen", "last_visit", "last_purchase", "last_cart_add", "last_checkout")


def merge_into(target: Profile, source: Profile, config: ProfileConfig = DEFAULT_CONFIG) -> None:
    """Fold ``source`` (an anonymous visitor) into ``target`` (the customer it turned out to be)."""
    for name in _SUMMED:
        setattr(target, name, getattr(target, name) + getattr(source, name))
    for name in _LATEST:
        setattr(target, name, _max(getattr(target, name), getattr(source, name)))
    target.first_seen = _min(target.first_seen, source.first_seen)
    buckets.merge(target.tiers, source.tiers)
    if target.last_seen is not None:
        buckets.prune(target.tiers, target.last_seen)
    _merge_affinity(target, source, config)
    _add_counts(target.devices, source.devices)
    _add_counts(target.channels, source.channels)
    if len(target.channels) > config.max_channels:
        channels = target.channels
        kept = sorted(channels, key=lambda name: (-channels[name], name))[: config.max_channels]
        target.channels = {name: channels[name] for name in kept}
    for name, value in source.traits.items():
        target.set_trait(name, value, source.trait_ts.get(name, -math.inf))
    target.set_consent(source.consent, source.consent_ts)
    known = set(target.recent_event_ids)
    target.recent_event_ids += [i for i in source.recent_event_ids if i not in known]
    del target.recent_event_ids[: -config.remembered_event_ids]
    target.aliases = sorted({*target.aliases, *source.aliases, source.id} - {target.id})
    target.version += 1


def _merge_affinity(target: Profile, source: Profile, config: ProfileConfig) -> None:
    reference = max(target.affinity_ref, source.affinity_ref)
    mine = target.affinity_at(reference, config)
    theirs = source.affinity_at(reference, config)
    combined = {name: mine.get(name, 0.0) + theirs.get(name, 0.0) for name in {*mine, *theirs}}
    strongest = sorted(combined, key=combined.__getitem__, reverse=True)[: config.max_categories]
    target.affinity = {name: combined[name] for name in strongest}
    target.affinity_ref = reference


def _add_counts(into: dict[str, int], other: dict[str, int]) -> None:
    for name, count in other.items():
        into[name] = into.get(name, 0) + count


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)
