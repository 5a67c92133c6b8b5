"""`segstream segments` as text: readable UTC times, never epoch seconds."""

from __future__ import annotations

from streams.client import CustomerSegments, Membership, format_segments

SINCE = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC


def customer(customer_id: str, resolved_id: str, *segments: str) -> CustomerSegments:
    membership = Membership(since=SINCE, variant="treatment", rules_version="r1")
    return CustomerSegments(
        customer_id=customer_id,
        resolved_id=resolved_id,
        segments=dict.fromkeys(segments, membership),
    )


def test_membership_shows_since_when_in_utc_and_how_long_ago() -> None:
    text = format_segments(customer("c1", "c1", "vip", "big_spenders"), now_s=SINCE + 180)
    lines = text.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("c1  vip ")
    assert "since 2026-05-28 20:26:40 UTC (3 min ago)" in lines[0]
    assert str(int(SINCE)) not in text


def test_a_merged_visitor_names_its_customer_and_no_segments_is_said() -> None:
    assert format_segments(customer("v1", "c9"), now_s=SINCE) == "v1 (now c9): no segments"
