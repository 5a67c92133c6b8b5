"""Event schemas, version 1: the JSON that shops send to the events topic.

Every event is a JSON object with a ``type`` discriminator, an ``event_id`` (used to drop
redeliveries), a ``customer_id`` or ``anonymous_id`` (the Kafka key is whichever identifies the
visitor), an event time ``ts`` (ISO-8601 with a time zone, or epoch seconds) and optional
``context``. See docs/events.md."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

SCHEMA_VERSION = 1

# Events older than this are almost certainly a unit mistake (milliseconds read as seconds, 0, ...).
EARLIEST_EVENT_TIME = datetime(1990, 1, 1, tzinfo=UTC)
# Allowed clock skew of a producer running ahead of ours.
MAX_FUTURE_SKEW = timedelta(days=1)
_EARLIEST_EPOCH = EARLIEST_EVENT_TIME.timestamp()
_MAX_FUTURE_SKEW_S = MAX_FUTURE_SKEW.total_seconds()


def plausible_epoch(epoch: float) -> bool:
    """Whether an event time (epoch seconds) is from 1990-01-01 on and at most a day ahead."""
    # Compared as epoch seconds: a third of the cost of building now() as a datetime.
    return _EARLIEST_EPOCH <= epoch <= time.time() + _MAX_FUTURE_SKEW_S


Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\s]+$")]
Label = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
Money = Annotated[Decimal, Field(ge=0, le=Decimal("1e9"), max_digits=14, decimal_places=4)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=2048)


class Context(_Strict):
    """Where the event happened; every field optional."""

    device: Literal["desktop", "mobile", "tablet", "app", "other"] | None = None
    channel: Label | None = None  # web, app, email, social, search, direct, ...
    campaign: Label | None = None
    country: CountryCode | None = None


class _EventBase(_Strict):
    v: Literal[1] = 1  # SCHEMA_VERSION
    event_id: Id
    customer_id: Id | None = None
    anonymous_id: Id | None = None
    ts: AwareDatetime
    context: Context | None = None

    @field_validator("ts")
    @classmethod
    def _plausible_time(cls, value: datetime) -> datetime:
        if not plausible_epoch(value.timestamp()):
            raise ValueError(f"{value.isoformat()} is outside 1990-01-01 .. now + 1 day")
        return value

    @model_validator(mode="after")
    def _has_identity(self) -> _EventBase:
        if self.customer_id is None and self.anonymous_id is None:
            raise ValueError("needs customer_id or anonymous_id")
        return self

    @property
    def subject_id(self) -> str:
        """The id whose profile this event updates: the customer if known, else the visitor."""
        return self.customer_id or self.anonymous_id or ""

    @cached_property
    def epoch_s(self) -> float:
        """``ts`` as epoch seconds, computed once: the pipeline reads it several times per event."""
        epoch: float = self.ts.timestamp()
        return epoch


class PageView(_EventBase):
    type: Literal["page_view"]
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    category: Label | None = None
    session_id: Id | None = None


class ProductView(_EventBase):
    type: Literal["product_view"]
    sku: Id
    category: Label
    price: Money | None = None
    session_id: Id | None = None


class Search(_EventBase):
    type: Literal["search"]
    query: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    results: Annotated[int, Field(ge=0)] | None = None
    session_id: Id | None = None


class AddToCart(_EventBase):
    type: Literal["add_to_cart"]
    sku: Id
    category: Label
    unit_price: Money
    quantity: Annotated[int, Field(ge=1, le=10_000)] = 1
    session_id: Id | None = None


class RemoveFromCart(_EventBase):
    type: Literal["remove_from_cart"]
    sku: Id
    quantity: Annotated[int, Field(ge=1, le=10_000)] = 1
    session_id: Id | None = None


class CheckoutStarted(_EventBase):
    type: Literal["checkout_started"]
    cart_value: Money
    session_id: Id | None = None


class LineItem(_Strict):
    sku: Id
    category: Label
    unit_price: Money
    quantity: Annotated[int, Field(ge=1, le=10_000)] = 1
    discount: Money = Decimal(0)  # total discount on this line, in the order currency
    coupon: Label | None = None


class Purchase(_EventBase):
    """An order. ``total`` is what the customer paid and is authoritative for spend features."""

    type: Literal["purchase"]
    order_id: Id
    items: Annotated[list[LineItem], Field(max_length=1000)] = Field(default_factory=list)
    total: Money
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"
    discount_total: Money | None = None  # defaults to the sum of line discounts
    coupon: Label | None = None
    session_id: Id | None = None

    @property
    def discount(self) -> Decimal:
        if self.discount_total is not None:
            return self.discount_total
        return sum((item.discount for item in self.items), Decimal(0))

    @property
    def is_discounted(self) -> bool:
        return self.discount > 0 or self.coupon is not None


class Identify(_EventBase):
    """The visitor ``anonymous_id`` is the customer ``customer_id``: merge the two profiles."""

    type: Literal["identify"]
    customer_id: Id
    anonymous_id: Id


IncomeBand = Literal["low", "lower_middle", "middle", "upper_middle", "high"]


class Traits(_Strict):
    """Declared or inferred attributes; a traits event sets the fields it carries, others stay."""

    age: Annotated[int, Field(ge=13, le=120)] | None = None
    gender: Label | None = None
    income_band: IncomeBand | None = None
    country: CountryCode | None = None
    region: Label | None = None
    city: Label | None = None
    interests: Annotated[list[Label], Field(max_length=50)] | None = None
    household_size: Annotated[int, Field(ge=1, le=30)] | None = None
    has_children: bool | None = None
    occupation: Label | None = None
    life_stage: Label | None = None
    lifestyle: Label | None = None
    values: Annotated[list[Label], Field(max_length=20)] | None = None  # psychographic
    needs: Annotated[list[Label], Field(max_length=20)] | None = None  # needs-based


class TraitsUpdate(_EventBase):
    type: Literal["traits"]
    traits: Traits


class Consent(_EventBase):
    type: Literal["consent"]
    personalization: bool


class Forget(_EventBase):
    """Erasure request: delete the profile, its aliases and its published segments."""

    type: Literal["forget"]


Event = Annotated[
    PageView
    | ProductView
    | Search
    | AddToCart
    | RemoveFromCart
    | CheckoutStarted
    | Purchase
    | Identify
    | TraitsUpdate
    | Consent
    | Forget,
    Field(discriminator="type"),
]

EVENT_TYPES: tuple[str, ...] = (
    "page_view",
    "product_view",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "checkout_started",
    "purchase",
    "identify",
    "traits",
    "consent",
    "forget",
)
