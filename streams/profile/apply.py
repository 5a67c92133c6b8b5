"""How each event type changes a profile. Pure functions: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from streams.events import schemas as ev
from streams.events.schemas import Event
from streams.profile import buckets as b
from streams.profile.state import DEFAULT_CONFIG, Profile, ProfileConfig

# Decayed affinity weight each signal adds to its category.
VIEW_WEIGHT = 1.0
PAGE_WEIGHT = 0.5
CART_WEIGHT = 3.0
PURCHASE_WEIGHT = 5.0

_CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> int:
    return int(amount.quantize(_CENT, rounding=ROUND_HALF_EVEN) * 100)


def apply_event(
    profile: Profile,
    event: Event,
    *,
    source: str = "",
    offset: int = -1,
    config: ProfileConfig = DEFAULT_CONFIG,
) -> bool:
    """Apply ``event`` to ``profile``; False when it was already applied (a redelivery).

    >>> from datetime import datetime, UTC
    >>> p = Profile("c1")
    >>> e = ev.Purchase(type="purchase", event_id="e1", customer_id="c1",
    ...                 ts=datetime(2024, 1, 1, tzinfo=UTC), order_id="o1", total=Decimal("12.50"))
    >>> apply_event(p, e), apply_event(p, e), p.orders, p.spend_cents
    (True, False, 1, 1250)
    """
    if profile.already_applied(event.event_id, source, offset):
        return False
    ts = event.epoch_s
    profile.touch(ts)
    _APPLY[event.type](profile, event, ts, config)
    if event.context is not None:
        _count_context(profile, event.context, config)
    profile.remember(event.event_id, source, offset, config)
    return True


def _count_context(profile: Profile, context: ev.Context, config: ProfileConfig) -> None:
    device, channel = context.device, context.channel
    if device:
        devices = profile.devices
        devices[device] = devices.get(device, 0) + 1
    if channel:
        channels = profile.channels
        if channel in channels or len(channels) < config.max_channels:
            channels[channel] = channels.get(channel, 0) + 1


def _visit(profile: Profile, ts: float, session_id: str | None, config: ProfileConfig) -> None:
    """Count a new session when the session id changes, or after a gap when there is none."""
    if session_id is not None:
        new_session = session_id != profile.last_session
        profile.last_session = session_id
    else:
        last = profile.last_visit
        new_session = last is None or abs(ts - last) > config.session_gap_s
    if new_session:
        profile.sessions += 1
        profile.count(ts, b.SESSIONS)
    if profile.last_visit is None or ts > profile.last_visit:
        profile.last_visit = ts


def _latest(current: float | None, ts: float) -> float:
    return ts if current is None or ts > current else current


def _page_view(profile: Profile, event: ev.PageView, ts: float, config: ProfileConfig) -> None:
    _visit(profile, ts, event.session_id, config)
    profile.page_views += 1
    profile.count(ts, b.PAGE_VIEWS)
    if event.category:
        profile.add_affinity(event.category, PAGE_WEIGHT, ts, config)


def _product_view(
    profile: Profile, event: ev.ProductView, ts: float, config: ProfileConfig
) -> None:
    _visit(profile, ts, event.session_id, config)
    profile.product_views += 1
    profile.page_views += 1
    profile.count(ts, b.PAGE_VIEWS)
    profile.add_affinity(event.category, VIEW_WEIGHT, ts, config)


def _search(profile: Profile, event: ev.Search, ts: float, config: ProfileConfig) -> None:
    _visit(profile, ts, event.session_id, config)
    profile.searches += 1


def _add_to_cart(profile: Profile, event: ev.AddToCart, ts: float, config: ProfileConfig) -> None:
    _visit(profile, ts, event.session_id, config)
    profile.cart_adds += 1
    profile.count(ts, b.CART_ADDS)
    profile.last_cart_add = _latest(profile.last_cart_add, ts)
    profile.add_affinity(event.category, CART_WEIGHT, ts, config)


def _remove_from_cart(
    profile: Profile, event: ev.RemoveFromCart, ts: float, config: ProfileConfig
) -> None:
    _visit(profile, ts, event.session_id, config)
    profile.cart_removes += 1


def _checkout(
    profile: Profile, event: ev.CheckoutStarted, ts: float, config: ProfileConfig
) -> None:
    _visit(profile, ts, event.session_id, config)
    profile.checkouts += 1
    profile.last_checkout = _latest(profile.last_checkout, ts)


def _purchase(profile: Profile, event: ev.Purchase, ts: float, config: ProfileConfig) -> None:
    _visit(profile, ts, event.session_id, config)
    cents = to_cents(event.total)
    profile.orders += 1
    profile.spend_cents += cents
    if event.is_discounted:
        profile.discounted_orders += 1
        profile.discount_cents += to_cents(event.discount)
        profile.count_many(ts, ((b.ORDERS, 1), (b.SPEND_CENTS, cents), (b.DISCOUNTED_ORDERS, 1)))
    else:
        profile.count_many(ts, ((b.ORDERS, 1), (b.SPEND_CENTS, cents)))
    profile.last_purchase = _latest(profile.last_purchase, ts)
    for item in event.items:
        profile.items += item.quantity
        profile.add_affinity(item.category, PURCHASE_WEIGHT * item.quantity, ts, config)


def _traits(profile: Profile, event: ev.TraitsUpdate, ts: float, config: ProfileConfig) -> None:
    for name, value in event.traits.model_dump(exclude_none=True).items():
        profile.set_trait(name, value, ts)


def _consent(profile: Profile, event: ev.Consent, ts: float, config: ProfileConfig) -> None:
    profile.set_consent(event.personalization, ts)


def _noop(profile: Profile, event: Any, ts: float, config: ProfileConfig) -> None:
    """Identify and forget change identity, not features: the stream layer handles them."""


_APPLY: dict[str, Callable[[Profile, Any, float, ProfileConfig], None]] = {
    "page_view": _page_view,
    "product_view": _product_view,
    "search": _search,
    "add_to_cart": _add_to_cart,
    "remove_from_cart": _remove_from_cart,
    "checkout_started": _checkout,
    "purchase": _purchase,
    "traits": _traits,
    "consent": _consent,
    "identify": _noop,
    "forget": _noop,
}
