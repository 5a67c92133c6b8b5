"""Profile <-> bytes for the Faust table and its changelog, versioned to read old state."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from streams.profile.state import Profile

CODEC_VERSION = 1
_FIELD_NAMES = tuple(f.name for f in fields(Profile))


class ProfileDecodeError(ValueError):
    pass


def encode_profile(profile: Profile) -> bytes:
    state: dict[str, Any] = {name: getattr(profile, name) for name in _FIELD_NAMES}
    state["_v"] = CODEC_VERSION
    return json.dumps(state, separators=(",", ":"), allow_nan=False).encode()


def decode_profile(raw: bytes) -> Profile:
    try:
        state = json.loads(raw)
        version = state.pop("_v")
    except (ValueError, KeyError, AttributeError) as exc:
        raise ProfileDecodeError(f"not an encoded profile: {raw[:60]!r}") from exc
    if version != CODEC_VERSION:
        raise ProfileDecodeError(f"profile codec version {version} is not supported")
    # JSON object keys are strings; bucket indexes are ints.
    state["tiers"] = [
        {int(index): counts for index, counts in tier.items()} for tier in state["tiers"]
    ]
    return Profile(**state)
