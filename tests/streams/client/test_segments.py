"""The typed view of a customer hash."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from streams.client import parse_customer


def membership(variant: str = "treatment") -> bytes:
    body = {"since": 12.5, "variant": variant, "rules_version": "r1", "model_version": ""}
    return json.dumps(body).encode()


def test_reserved_fields_are_metadata_not_segments() -> None:
    fields = {
        b"vip": membership("control"),
        b"cluster_c1": membership(),
        b"_version": b"41",
        b"_updated_at": b"12.500",
        b"_alias_of": b"c9",
    }
    customer = parse_customer("v1", "v1", fields)
    assert sorted(customer.segments) == ["cluster_c1", "vip"]
    assert (customer.version, customer.updated_at) == (41, 12.5)
    assert customer.variant("vip") == "control"
    assert customer.variant("cluster_c1") == "treatment"
    assert customer.variant("absent") is None


def test_no_hash_means_no_segments() -> None:
    customer = parse_customer("c1", "c1", {})
    assert (customer.segments, customer.version) == ({}, None)


def test_an_unknown_variant_is_refused() -> None:
    with pytest.raises(ValidationError):
        parse_customer("c1", "c1", {"vip": membership("maybe").decode()})
