"""What the reference storefront shows for a customer's segments and variants.

The first placement whose segment the customer is in, in *treatment*, wins. A customer held out
in *control* sees the default page: that difference is what ``segstream report`` measures.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.client import CustomerSegments


@dataclass(frozen=True, slots=True)
class Content:
    headline: str
    offers: tuple[str, ...]
    segment: str | None = None  # the segment that chose it; None for the default page
    variant: str | None = None  # the customer's variant in that segment


DEFAULT = Content(
    "Welcome to the segstream demo shop",
    ("Free returns within 30 days", "New arrivals every Monday"),
)

PLACEMENTS: tuple[tuple[str, Content], ...] = (
    (
        "vip_big_spenders_in_dach",
        Content(
            "Willkommen zurück! VIP-Versand gratis", ("Gratis Expressversand", "VIP-Vorabverkauf")
        ),
    ),
    (
        "big_spenders",
        Content(
            "Welcome back, VIP: free express shipping",
            ("Free express shipping", "Early access to the winter sale"),
        ),
    ),
    (
        "cart_abandoners",
        Content("Still thinking it over? Your cart is waiting", ("10% off your cart today",)),
    ),
    ("lapsing_customers", Content("We missed you: here is 15% off", ("15% off your next order",))),
    (
        "discount_shoppers",
        Content("Today's best deals, picked for you", ("Extra 20% off sale items",)),
    ),
    (
        # First seen in the last 14 days and signed in: not necessarily a buyer yet.
        "new_customers",
        Content("Welcome, and thanks for joining us", ("Free shipping on your next order",)),
    ),
    (
        "window_shoppers",
        Content(
            "Seen something you like? Take a closer look", ("Free returns, no questions asked",)
        ),
    ),
)


def choose_content(customer: CustomerSegments) -> Content:
    for segment_id, content in PLACEMENTS:
        if customer.variant(segment_id) == "treatment":
            return Content(content.headline, content.offers, segment_id, "treatment")
    clusters = sorted(s for s in customer.segments if s.startswith("cluster_"))
    for segment_id in clusters:
        if customer.variant(segment_id) == "treatment":
            headline = f"Picked for shoppers like you ({segment_id.removeprefix('cluster_')})"
            return Content(headline, DEFAULT.offers, segment_id, "treatment")
    held_out = next(
        (s for s in sorted(customer.segments) if customer.variant(s) == "control"), None
    )
    if held_out is not None:
        return Content(DEFAULT.headline, DEFAULT.offers, held_out, "control")
    return DEFAULT
