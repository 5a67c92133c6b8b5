"""A customer's segments: one ``HGETALL`` of the customer's hash, and, for a visitor who turned out
to be a known customer (``_alias_of``), one more of that customer's hash, so a front end holding a
visitor id or the customer id gets the merged customer's segments. Plain commands on one key each,
so the same code reads a standalone Redis and a Redis Cluster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import redis
from pydantic import BaseModel, ConfigDict

from streams.dependencies import redis_client
from streams.redis_connection import reply_text
from streams.settings import Settings
from streams.sink.redis_keys import (
    ALIAS_FIELD,
    RESERVED,
    UPDATED_FIELD,
    VERSION_FIELD,
    customer_key,
)

MAX_ALIAS_HOPS = 4  # a merge makes one; more means a loop, read as "in no segment"


class Membership(BaseModel):
    model_config = ConfigDict(frozen=True)

    since: float  # epoch seconds
    variant: Literal["treatment", "control"]
    rules_version: str
    model_version: str = ""


class CustomerSegments(BaseModel):
    model_config = ConfigDict(frozen=True)

    customer_id: str  # the id asked for
    resolved_id: str  # the customer it is (differs for a merged visitor)
    version: int | None = None
    updated_at: float | None = None
    segments: dict[str, Membership] = {}

    def variant(self, segment_id: str) -> str | None:
        """``treatment``, ``control`` (held out: show the default), or None when not a member."""
        membership = self.segments.get(segment_id)
        return membership.variant if membership else None


def parse_customer(
    customer_id: str, resolved_id: str, fields: Mapping[str, str] | Mapping[bytes, bytes]
) -> CustomerSegments:
    """The typed view of a customer hash (as HGETALL returns it)."""
    plain = {reply_text(k): reply_text(v) for k, v in fields.items()}
    version, updated = plain.get(VERSION_FIELD), plain.get(UPDATED_FIELD)
    return CustomerSegments(
        customer_id=customer_id,
        resolved_id=resolved_id,
        version=int(version) if version is not None else None,
        updated_at=float(updated) if updated is not None else None,
        segments={
            name: Membership.model_validate(json.loads(value))
            for name, value in sorted(plain.items())
            if not name.startswith(RESERVED)
        },
    )


class SegmentClient:
    """``SegmentClient(redis.Redis(...)).segments("c42")`` -> :class:`CustomerSegments`."""

    def __init__(self, client: redis.Redis, prefix: str = "segstream:v2") -> None:
        self._client = client
        self._prefix = prefix

    @classmethod
    def from_settings(cls, settings: Settings) -> SegmentClient:
        return cls(redis_client(settings), settings.redis_key_prefix)

    def segments(self, customer_id: str) -> CustomerSegments:
        resolved = customer_id
        for _ in range(MAX_ALIAS_HOPS + 1):
            fields: Mapping[Any, Any] = self._client.hgetall(customer_key(self._prefix, resolved))
            alias = fields.get(ALIAS_FIELD.encode(), fields.get(ALIAS_FIELD))
            if alias is None:
                return parse_customer(customer_id, resolved, fields)
            resolved = reply_text(alias)
        return parse_customer(customer_id, resolved, {})
