"""Reading segment membership from Redis: a typed Python client for the v1 key layout."""

from streams.client.segments import CustomerSegments, Membership, SegmentClient, parse_customer
from streams.client.text import format_segments

__all__ = ["CustomerSegments", "Membership", "SegmentClient", "format_segments", "parse_customer"]
