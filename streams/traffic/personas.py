"""Shopper personas for demo traffic: clearly different behaviour, with noise, and known truth."""

from __future__ import annotations

from dataclasses import dataclass, field

CATEGORIES = (
    "fashion", "electronics", "home", "beauty", "sports", "books", "toys", "grocery", "kids",
    "garden",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    share: float  # of the population
    ages: tuple[int, int]
    income: dict[str, float]  # income band -> weight
    children_p: float
    interests: tuple[str, ...]
    needs: tuple[str, ...]
    categories: dict[str, float]  # browsing weight per category
    sessions_per_day: float
    pages: tuple[int, int]  # page views per session
    cart_p: float  # a session adds to cart
    checkout_p: float  # a cart reaches checkout
    buy_p: float  # a checkout becomes an order
    price: tuple[float, float]  # unit price range
    items: tuple[int, int]
    discount_p: float  # an order uses a coupon
    devices: dict[str, float] = field(default_factory=lambda: {"desktop": 0.5, "mobile": 0.5})
    channels: dict[str, float] = field(default_factory=lambda: {"web": 0.7, "search": 0.3})
    anonymous_first_p: float = 0.3
    lapses_after_days: float | None = None  # stops visiting after this many days of history


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "big_spender", 0.08, (30, 60), {"high": 0.6, "upper_middle": 0.4}, 0.4,
        ("luxury", "travel"), ("quality",), {"fashion": 3, "electronics": 3, "home": 2},
        1.2, (4, 10), 0.6, 0.8, 0.9, (80, 400), (1, 4), 0.05,
        channels={"web": 0.5, "email": 0.3, "direct": 0.2},
    ),
    Persona(
        "discount_shopper", 0.14, (25, 65), {"lower_middle": 0.5, "middle": 0.5}, 0.5,
        ("deals",), ("price",), {"home": 2, "grocery": 2, "fashion": 1, "beauty": 1},
        1.0, (5, 12), 0.5, 0.7, 0.8, (10, 50), (1, 5), 0.9,
        channels={"email": 0.5, "web": 0.3, "social": 0.2},
    ),
    Persona(
        "window_shopper", 0.16, (18, 45), {"middle": 0.6, "lower_middle": 0.4}, 0.3,
        ("design", "trends"), ("inspiration",), {"fashion": 2, "home": 2, "electronics": 1},
        1.5, (8, 20), 0.08, 0.3, 0.3, (20, 150), (1, 2), 0.2,
        devices={"mobile": 0.8, "tablet": 0.2},
    ),
    Persona(
        "cart_abandoner", 0.10, (22, 50), {"middle": 0.7, "upper_middle": 0.3}, 0.4,
        ("gadgets",), ("price",), {"electronics": 3, "sports": 1, "home": 1},
        0.8, (3, 8), 0.85, 0.7, 0.05, (30, 200), (1, 3), 0.2,
        devices={"mobile": 0.7, "desktop": 0.3},
    ),
    Persona(
        "young_fashionista", 0.12, (18, 25), {"low": 0.4, "lower_middle": 0.6}, 0.02,
        ("fashion", "beauty", "music"), ("self_expression",), {"fashion": 6, "beauty": 3},
        1.8, (6, 15), 0.5, 0.6, 0.7, (15, 80), (1, 3), 0.3,
        devices={"mobile": 0.9, "app": 0.1}, channels={"social": 0.6, "web": 0.4},
        anonymous_first_p=0.5,
    ),
    Persona(
        "budget_shopper", 0.12, (25, 70), {"low": 0.6, "lower_middle": 0.4}, 0.5,
        ("cooking",), ("price", "value"), {"grocery": 5, "home": 2, "kids": 1},
        0.9, (3, 7), 0.6, 0.8, 0.85, (2, 15), (3, 10), 0.4,
    ),
    Persona(
        "practical_parent", 0.12, (28, 45), {"middle": 0.6, "upper_middle": 0.4}, 1.0,
        ("family", "outdoors"), ("convenience", "safety"), {"kids": 4, "toys": 3, "grocery": 2},
        1.0, (4, 9), 0.55, 0.8, 0.85, (10, 60), (2, 6), 0.3,
    ),
    Persona(
        "high_income_professional", 0.08, (30, 55), {"high": 0.8, "upper_middle": 0.2}, 0.3,
        ("technology", "reading"), ("time_saving",), {"electronics": 4, "books": 3},
        0.7, (3, 7), 0.5, 0.85, 0.9, (40, 300), (1, 3), 0.05,
        devices={"desktop": 0.7, "mobile": 0.3}, channels={"direct": 0.5, "web": 0.5},
    ),
    Persona(
        "lapsing_customer", 0.08, (30, 65), {"middle": 1.0}, 0.5,
        ("gardening",), ("value",), {"garden": 3, "home": 2},
        0.8, (3, 8), 0.45, 0.8, 0.8, (15, 80), (1, 3), 0.2, lapses_after_days=10,
    ),
)  # fmt: skip

BY_NAME = {persona.name: persona for persona in PERSONAS}
