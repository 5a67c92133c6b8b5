"""A customer's segments as `segstream segments` prints them."""

from __future__ import annotations

from streams.client.segments import CustomerSegments
from streams.timefmt import when_text


def format_segments(customer: CustomerSegments, now_s: float) -> str:
    """One line per segment: id, variant and since when (UTC, and how long ago)."""
    name = customer.customer_id
    if customer.resolved_id != name:
        name = f"{name} (now {customer.resolved_id})"
    if not customer.segments:
        return f"{name}: no segments"
    width = max(len(segment_id) for segment_id in customer.segments)
    return "\n".join(
        f"{name}  {segment_id:<{width}}  {info.variant:<9}  since {when_text(info.since, now_s)}"
        for segment_id, info in customer.segments.items()
    )
