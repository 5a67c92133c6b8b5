"""Descriptions name the most distinctive features of a centroid, in words."""

from __future__ import annotations

import math

import pytest

from models.describe import describe, differences, phrase
from models.snapshot import Scaler


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


def test_differences_are_in_the_features_own_units_most_unusual_first() -> None:
    scaler = Scaler(50, (math.log1p(19.0), 0.2, 3.0), (1.0, 0.04, 0.0))
    centroid = (0.5, -1.5, 0.0)  # a constant feature scales to 0
    ranked = differences(("log:avg_order_value", "discount_share_of_orders", "x"), scaler, centroid)
    assert [d.feature for d in ranked] == ["discount_share_of_orders", "avg_order_value", "x"]
    assert ranked[0].cluster == pytest.approx(0.2 - 1.5 * 0.2)
    assert ranked[1].cluster == pytest.approx(math.expm1(math.log1p(19.0) + 0.5))
    assert ranked[1].overall == pytest.approx(19.0)
    assert str(ranked[2]) == "x 3 vs 3 overall"
