"""Descriptions name the most distinctive features of a centroid, in words."""

from __future__ import annotations

from models.describe import describe, phrase


def test_strongest_first_at_most_four_and_only_distinctive() -> None:
    features = (
        "log:spend_30d", "log:orders_30d", "affinity_share:fashion", "discount_share_of_orders",
        "cart_adds_30d/sessions_30d", "log:avg_order_value",
    )  # fmt: skip
    text = describe(features, (1.2, 0.9, 2.0, -1.5, 0.8, 0.2))
    assert text == "fashion-leaning · discount-averse · high spend · frequent"


def test_low_affinity_says_nothing_and_unknown_features_get_a_generic_phrase() -> None:
    assert phrase("affinity_share:toys", -1.0) is None
    assert phrase("log:checkouts_lifetime", 1.0) == "high checkouts_lifetime"
    generic = phrase("log:searches_lifetime/sessions_lifetime", -1.0)
    assert generic == "low searches_lifetime/sessions_lifetime"
    assert phrase("log:items_lifetime/orders_lifetime", -1.0) == "few items per order"
    assert describe(("affinity_share:toys",), (-2.0,)) == "close to the average customer"
