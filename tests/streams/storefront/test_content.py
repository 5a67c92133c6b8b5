"""Which banner and offers the reference storefront shows for segments and variants."""

from __future__ import annotations

from pathlib import Path

import yaml

from streams.client import CustomerSegments, Membership
from streams.storefront.content import DEFAULT, choose_content


def customer(**variants: str) -> CustomerSegments:
    segments = {
        sid: Membership(since=1.0, variant=variant, rules_version="r")
        for sid, variant in variants.items()
    }
    return CustomerSegments(customer_id="c1", resolved_id="c1", segments=segments)


def test_no_segments_shows_the_default_page() -> None:
    assert choose_content(customer()) == DEFAULT


def test_treatment_shows_the_segment_banner_by_priority() -> None:
    content = choose_content(customer(window_shoppers="treatment", big_spenders="treatment"))
    assert (content.segment, content.variant) == ("big_spenders", "treatment")
    assert "VIP" in content.headline


def test_control_sees_the_default_page_but_is_labelled() -> None:
    content = choose_content(customer(big_spenders="control"))
    assert (content.headline, content.offers) == (DEFAULT.headline, DEFAULT.offers)
    assert (content.segment, content.variant) == ("big_spenders", "control")


def test_a_cluster_segment_gets_a_generic_banner() -> None:
    content = choose_content(customer(cluster_thrifty="treatment"))
    assert content.segment == "cluster_thrifty"
    assert "thrifty" in content.headline


def test_the_new_customers_banner_claims_only_what_the_segment_means() -> None:
    rules = Path(__file__).resolve().parents[3] / "rules" / "segments" / "behavioral.yaml"
    segments = yaml.safe_load(rules.read_text())["segments"]
    [rule] = [r for r in segments if r["id"] == "new_customers"]
    assert "order" not in rule["condition"]  # recently first seen, signed in: maybe never bought
    content = choose_content(customer(new_customers="treatment"))
    assert content.segment == "new_customers"
    assert "order" not in content.headline.lower()
