"""Profile <-> bytes: exact round trips, a pinned layout, old versions, and clear errors."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.events import schemas as ev
from streams.profile import (
    Profile,
    ProfileDecodeError,
    apply_event,
    decode_profile,
    encode_profile,
)
from streams.profile.codec import CODEC_VERSION
from tests.streams.profile.test_apply import NOW, events

# Version 1 stored exactly these fields, in this order; later versions may only append.
V1_FIELDS = (
    "id",
    "anonymous",
    "aliases",
    "consent",
    "version",
    "first_seen",
    "last_seen",
    "last_visit",
    "last_purchase",
    "last_cart_add",
    "last_checkout",
    "orders",
    "spend_cents",
    "discounted_orders",
    "discount_cents",
    "items",
    "page_views",
    "product_views",
    "searches",
    "cart_adds",
    "cart_removes",
    "checkouts",
    "sessions",
    "last_session",
    "tiers",
    "affinity",
    "affinity_ref",
    "devices",
    "channels",
    "traits",
    "recent_event_ids",
    "applied_offsets",
    "segments",
    "merged_into",
)


def rich_profile() -> Profile:
    """Every field away from its default."""
    return Profile(
        id="c1",
        anonymous=True,
        aliases=["v1", "v2"],
        consent=False,
        version=42,
        first_seen=NOW - 1e6,
        last_seen=NOW,
        last_visit=NOW - 1.5,
        last_purchase=NOW - 2.25,
        last_cart_add=NOW - 3,
        last_checkout=NOW - 4,
        orders=3,
        spend_cents=12_345,
        discounted_orders=1,
        discount_cents=500,
        items=7,
        page_views=11,
        product_views=5,
        searches=2,
        cart_adds=4,
        cart_removes=1,
        checkouts=2,
        sessions=6,
        last_session="s-9",
        tiers=[
            {29_552_310: [1, 2, 3, 4, 5, 6]},
            {492_538: [0, 0, 0, 1, 0, 0]},
            {20_522: [3, 12_345, 1, 11, 6, 4], 20_500: [0, 0, 0, 0, 1, 0]},
        ],
        affinity={"books": 0.1 + 0.2, "toys": 1e-300},
        affinity_ref=NOW - 0.125,
        devices={"mobile": 3},
        channels={"email": 2, "web": 1},
        traits={"age": 34, "interests": ["yoga", "chess"], "has_children": True},
        recent_event_ids=["e1", "e2"],
        applied_offsets={"events:0": 17, "events:3": 0},
        segments={"big_spenders": NOW - 10},
        merged_into="c9",
        consent_ts=NOW - 60,
        trait_ts={"age": NOW - 60, "interests": NOW - 61.5, "has_children": NOW},
    )


def test_every_field_is_set_in_the_rich_profile() -> None:
    rich, default = rich_profile(), Profile("c1")
    assert [
        f.name
        for f in fields(Profile)
        if getattr(rich, f.name) == getattr(default, f.name) and f.name != "id"
    ] == []


@pytest.mark.parametrize(
    "profile",
    [Profile("c1"), Profile("v1", anonymous=True), rich_profile()],
    ids=["empty", "anonymous", "rich"],
)
def test_round_trip_is_exact(profile: Profile) -> None:
    raw = encode_profile(profile)
    decoded = decode_profile(raw)
    assert decoded == profile
    assert encode_profile(decoded) == raw
    assert all(isinstance(index, int) for tier in decoded.tiers for index in tier)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), max_size=40))
def test_round_trip_of_any_history_is_exact(history: list[ev.Event]) -> None:
    profile = Profile("c1")
    for offset, event in enumerate(history):
        apply_event(profile, event, source="events:1", offset=offset)
    decoded = decode_profile(encode_profile(profile))
    assert decoded == profile
    assert decoded.affinity == profile.affinity  # floats bit for bit, not approximately


def test_encoding_is_a_compact_versioned_array_in_field_order() -> None:
    raw = encode_profile(Profile("c1"))
    assert raw.startswith(b'[2,"c1",false,[],true,0,null')
    assert b" " not in raw
    values = json.loads(raw)
    assert values[0] == CODEC_VERSION == 2
    assert len(values) == 1 + len(fields(Profile))


def test_layout_only_appends_to_version_1() -> None:
    names = tuple(f.name for f in fields(Profile))
    assert names[: len(V1_FIELDS)] == V1_FIELDS
    assert names[len(V1_FIELDS) :] == ("consent_ts", "trait_ts")


def test_version_1_state_decodes_with_the_new_fields_at_their_defaults() -> None:
    profile = rich_profile()
    v1 = [1, *json.loads(encode_profile(profile))[1 : 1 + len(V1_FIELDS)]]
    decoded = decode_profile(json.dumps(v1).encode())
    assert (decoded.consent_ts, decoded.trait_ts) == (None, {})
    profile.consent_ts, profile.trait_ts = None, {}
    assert decoded == profile


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"{}",
        b'{"0": 2}',
        b"5",
        b"null",
        b"[]",
        b'"abc"',
        b"[99]",
        b'["2", "c1"]',
        b"[[2], 1]",
        b"[2]",
        b'[2,"c1"]',  # too short for version 2
        b"[1" + b",0" * 36 + b"]",  # too long for version 1
    ],
)
def test_anything_else_is_a_decode_error(raw: bytes) -> None:
    with pytest.raises(ProfileDecodeError):
        decode_profile(raw)


def test_a_profile_that_json_cannot_represent_is_refused_not_corrupted() -> None:
    broken = Profile("c1", affinity={"books": float("nan")})
    with pytest.raises(ValueError, match="JSON compliant"):
        encode_profile(broken)


def test_text_that_names_non_finite_numbers_is_ordinary_text() -> None:
    named = Profile("c1", affinity={"NaN": 1.5, "Infinity": 0.25}, traits={"city": "NaN"})
    assert decode_profile(encode_profile(named)) == named


def test_the_encoding_is_the_json_the_standard_library_reads() -> None:
    profile = Profile("c-é", affinity={"books": 0.1, "toys": 1e-7}, traits={"city": "Zürich"})
    values = json.loads(encode_profile(profile))
    assert values[0] == CODEC_VERSION
    assert decode_profile(json.dumps(values).encode()) == profile
