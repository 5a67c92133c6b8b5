"""A customer's segments in one round trip: ``read_customer.lua`` follows identity aliases inside
Redis, so a front end holding a visitor id or the customer id gets the merged customer's segments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Literal

import redis
from pydantic import BaseModel, ConfigDict

from streams.dependencies import redis_client
from streams.settings import Settings
from streams.sink.redis_keys import RESERVED, UPDATED_FIELD, VERSION_FIELD

READ_SCRIPT = files("streams.client").joinpath("read_customer.lua").read_text()


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


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def parse_customer(
    customer_id: str, resolved_id: str, fields: Mapping[str, str] | Mapping[bytes, bytes]
) -> CustomerSegments:
    """The typed view of a customer hash (as HGETALL returns it)."""
    plain = {_text(k): _text(v) for k, v in fields.items()}
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


def _pairs(flat: Sequence[bytes]) -> dict[bytes, bytes]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class SegmentClient:
    """``SegmentClient(redis.Redis(...)).segments("c42")`` -> :class:`CustomerSegments`."""

    def __init__(self, client: redis.Redis, prefix: str = "segstream:v1") -> None:
        self._prefix = prefix
        self._read = client.register_script(READ_SCRIPT)  # EVALSHA, loaded on first NOSCRIPT

    @classmethod
    def from_settings(cls, settings: Settings) -> SegmentClient:
        return cls(redis_client(settings), settings.redis_key_prefix)

    def segments(self, customer_id: str) -> CustomerSegments:
        resolved, flat = self._read(keys=[], args=[self._prefix, customer_id])
        return parse_customer(customer_id, _text(resolved), _pairs(flat))
