"""Reading segment membership from Redis: a typed Python client for the v1 key layout."""

from streams.client.segments import CustomerSegments, Membership, SegmentClient, parse_customer

__all__ = ["CustomerSegments", "Membership", "SegmentClient", "parse_customer"]
