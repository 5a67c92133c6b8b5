"""Small builders of validated events for profile tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from streams.events import schemas as ev

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC).timestamp()  # a Tuesday, noon UTC
MINUTE, HOUR, DAY = 60.0, 3600.0, 86_400.0
_counter = iter(range(10**9))


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _ids(customer: str | None, anonymous: str | None) -> dict[str, Any]:
    return {"event_id": f"e{next(_counter)}", "customer_id": customer, "anonymous_id": anonymous}


def purchase(ts: float, total: str, *, customer: str = "c1", discount: str | None = None,
             coupon: str | None = None, items: list[ev.LineItem] | None = None,
             **context: Any) -> ev.Purchase:  # fmt: skip
    return ev.Purchase(
        type="purchase", ts=at(ts), order_id=f"o{next(_counter)}", total=Decimal(total),
        discount_total=None if discount is None else Decimal(discount), coupon=coupon,
        items=items or [], context=ev.Context(**context) if context else None,
        **_ids(customer, None),
    )  # fmt: skip


def item(category: str, price: str = "10", quantity: int = 1, discount: str = "0") -> ev.LineItem:
    return ev.LineItem(sku=f"sku-{category}", category=category, unit_price=Decimal(price),
                       quantity=quantity, discount=Decimal(discount))  # fmt: skip


def page_view(ts: float, *, session: str | None = None, category: str | None = None,
              customer: str = "c1", **context: Any) -> ev.PageView:  # fmt: skip
    return ev.PageView(type="page_view", ts=at(ts), url="/", category=category, session_id=session,
                       context=ev.Context(**context) if context else None,
                       **_ids(customer, None))  # fmt: skip


def product_view(ts: float, category: str, *, session: str | None = None) -> ev.ProductView:
    return ev.ProductView(type="product_view", ts=at(ts), sku="s", category=category,
                          session_id=session, **_ids("c1", None))  # fmt: skip


def add_to_cart(ts: float, category: str = "home", *, session: str | None = None) -> ev.AddToCart:
    return ev.AddToCart(type="add_to_cart", ts=at(ts), sku="s", category=category,
                        unit_price=Decimal(5), session_id=session, **_ids("c1", None))  # fmt: skip


def checkout(ts: float) -> ev.CheckoutStarted:
    return ev.CheckoutStarted(type="checkout_started", ts=at(ts), cart_value=Decimal(5),
                              **_ids("c1", None))  # fmt: skip


def search(ts: float) -> ev.Search:
    return ev.Search(type="search", ts=at(ts), query="shoes", **_ids("c1", None))


def traits(ts: float, **values: Any) -> ev.TraitsUpdate:
    return ev.TraitsUpdate(type="traits", ts=at(ts), traits=ev.Traits(**values),
                           **_ids("c1", None))  # fmt: skip


def consent(ts: float, allowed: bool) -> ev.Consent:
    return ev.Consent(type="consent", ts=at(ts), personalization=allowed, **_ids("c1", None))
