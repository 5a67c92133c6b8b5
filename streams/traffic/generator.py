"""Deterministic shopper sessions from personas, as JSON-ready events. Pure: no I/O, no clock."""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from streams.traffic.personas import PERSONAS, Persona

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class SimEvent:
    key: str  # Kafka key: the customer id, or the anonymous id while the shopper is anonymous
    payload: dict[str, object]
    ts: float


@dataclass(slots=True)
class Shopper:
    customer_id: str
    persona: Persona
    anonymous_id: str | None  # set while the shopper browses anonymously
    sent: int = 0
    traits_sent: bool = False
    opted_out: bool = False
    rng: random.Random = field(default_factory=random.Random)
    run: str = ""  # names this simulator run in every id it makes, so runs never share an id

    def next_id(self) -> str:
        self.sent += 1
        prefix = f"{self.customer_id}-{self.run}" if self.run else self.customer_id
        return f"{prefix}-{self.sent}"


def make_shoppers(
    customers: int, *, seed: int, id_prefix: str = "c", run: str = ""
) -> list[Shopper]:
    """``customers`` shoppers with personas drawn by share; the same seed gives the same crowd.

    Workers drop an event whose id they have seen: a second run of the same crowd must mint new
    event, session and order ids (``run``), or its events count as repeats of the first run's.
    """
    rng = random.Random(seed)
    weights = [persona.share for persona in PERSONAS]
    shoppers = []
    for number in range(customers):
        persona = rng.choices(PERSONAS, weights)[0]
        customer_id = f"{id_prefix}{number:07d}"
        anonymous = rng.random() < persona.anonymous_first_p
        shopper_rng = random.Random(f"{seed}/{customer_id}")
        anonymous_id = f"anon-{customer_id}" if anonymous else None
        shoppers.append(Shopper(customer_id, persona, anonymous_id, rng=shopper_rng, run=run))
    return shoppers


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


class _Session:
    """Builds one visit's events for one shopper, spaced tens of seconds apart."""

    def __init__(self, shopper: Shopper, start: float) -> None:
        self.shopper = shopper
        self.rng = shopper.rng
        self.ts = start
        self.events: list[SimEvent] = []
        persona = shopper.persona
        self.session_id = f"s-{shopper.next_id()}"
        self.context = {
            "device": _pick(self.rng, persona.devices),
            "channel": _pick(self.rng, persona.channels),
        }

    def emit(self, kind: str, **fields: object) -> None:
        shopper = self.shopper
        payload: dict[str, object] = {
            "type": kind,
            "event_id": shopper.next_id(),
            "ts": _iso(self.ts),
        }
        if shopper.anonymous_id is not None:
            payload["anonymous_id"] = shopper.anonymous_id
        else:
            payload["customer_id"] = shopper.customer_id
        payload.update(fields)
        key = str(payload.get("customer_id") or payload["anonymous_id"])  # the subject owns the key
        self.events.append(SimEvent(key, payload, self.ts))
        self.ts += self.rng.uniform(5, 60)

    def browse(self) -> list[tuple[str, str, float]]:
        persona, rng = self.shopper.persona, self.rng
        cart: list[tuple[str, str, float]] = []
        landing = _pick(rng, persona.categories)
        self.emit(
            "page_view",
            url=f"/{landing}",
            category=landing,
            session_id=self.session_id,
            context=self.context,
        )
        for _ in range(rng.randint(*persona.pages)):
            category = _pick(rng, persona.categories)
            price = round(rng.uniform(*persona.price), 2)
            sku = f"{category[:3]}-{rng.randint(1, 500)}"
            if rng.random() < 0.1:
                self.emit(
                    "search",
                    query=f"{category} deals",
                    results=rng.randint(0, 50),
                    session_id=self.session_id,
                    context=self.context,
                )
            self.emit(
                "product_view",
                sku=sku,
                category=category,
                price=f"{price:.2f}",
                session_id=self.session_id,
                context=self.context,
            )
            if rng.random() < persona.cart_p / 3:
                cart.append((sku, category, price))
                self.emit(
                    "add_to_cart",
                    sku=sku,
                    category=category,
                    unit_price=f"{price:.2f}",
                    quantity=1,
                    session_id=self.session_id,
                    context=self.context,
                )
        return cart


def session_events(shopper: Shopper, start: float) -> list[SimEvent]:
    """One session of ``shopper`` starting at ``start`` (epoch seconds)."""
    session = _Session(shopper, start)
    persona, rng = shopper.persona, shopper.rng
    if shopper.anonymous_id is None and not shopper.traits_sent:
        session.emit("traits", traits=_traits(shopper))
        shopper.traits_sent = True
    cart = session.browse()
    if cart and rng.random() < persona.checkout_p:
        value = sum(price for _, _, price in cart)
        session.emit("checkout_started", cart_value=f"{value:.2f}", session_id=session.session_id)
        if rng.random() < persona.buy_p:
            _purchase(session, cart)
    if shopper.anonymous_id is not None and rng.random() < 0.35:
        session.emit("identify", customer_id=shopper.customer_id)
        shopper.anonymous_id = None
    if not shopper.opted_out and rng.random() < 0.002:
        session.emit("consent", personalization=False)
        shopper.opted_out = True
    return session.events


def _purchase(session: _Session, cart: list[tuple[str, str, float]]) -> None:
    rng, persona = session.rng, session.shopper.persona
    items = []
    for sku, category, price in cart:
        quantity = rng.randint(*persona.items)
        items.append(
            {"sku": sku, "category": category, "unit_price": f"{price:.2f}", "quantity": quantity}
        )
    gross = sum(float(str(item["unit_price"])) * int(str(item["quantity"])) for item in items)
    coupon = rng.random() < persona.discount_p
    discount = round(gross * 0.15, 2) if coupon else 0.0
    fields: dict[str, object] = {
        "order_id": f"o-{session.shopper.next_id()}",
        "items": items,
        "total": f"{gross - discount:.2f}",
        "session_id": session.session_id,
        "context": session.context,
    }
    if coupon:
        fields |= {"coupon": "SAVE15", "discount_total": f"{discount:.2f}"}
    session.emit("purchase", **fields)


def _traits(shopper: Shopper) -> dict[str, object]:
    persona, rng = shopper.persona, shopper.rng
    traits: dict[str, object] = {
        "age": rng.randint(*persona.ages),
        "income_band": _pick(rng, persona.income),
        "has_children": rng.random() < persona.children_p,
        "country": rng.choice(["US", "DE", "FR", "GB"]),
        "interests": list(persona.interests),
        "needs": list(persona.needs),
        "household_size": rng.randint(1, 2) + (2 if rng.random() < persona.children_p else 0),
    }
    return traits


def generate(
    customers: int, *, seed: int, start: float, days: float, id_prefix: str = "c", run: str = ""
) -> Iterator[SimEvent]:
    """History of ``customers`` shoppers over ``days`` from ``start``, session by session.

    Sessions come in order of their start time; events inside a session follow it, so streams from
    different shoppers interleave slightly out of order, as real traffic does.

    >>> events = list(generate(20, seed=1, start=1.7e9, days=2))
    >>> events == list(generate(20, seed=1, start=1.7e9, days=2)), len(events) > 100
    (True, True)
    """
    shoppers = make_shoppers(customers, seed=seed, id_prefix=id_prefix, run=run)
    end = start + days * DAY_S
    heap = [(start + _gap(s), n) for n, s in enumerate(shoppers)]
    heapq.heapify(heap)
    while heap and heap[0][0] < end:
        ts, n = heapq.heappop(heap)
        shopper = shoppers[n]
        lapse = shopper.persona.lapses_after_days
        if lapse is not None and ts > start + lapse * DAY_S:
            continue  # this shopper stopped coming
        yield from session_events(shopper, ts)
        heapq.heappush(heap, (ts + _gap(shopper), n))


def _gap(shopper: Shopper) -> float:
    return shopper.rng.expovariate(shopper.persona.sessions_per_day) * DAY_S


def live(shoppers: list[Shopper], *, seed: int, now: float) -> Iterator[SimEvent]:
    """Endless sessions of active shoppers, stamped from ``now`` on (the caller paces them)."""
    rng = random.Random(seed)
    active = [s for s in shoppers if s.persona.lapses_after_days is None]
    weights = [s.persona.sessions_per_day for s in active]
    clock = now
    while True:
        shopper = rng.choices(active, weights)[0]
        yield from session_events(shopper, clock)
        clock += 1.0
