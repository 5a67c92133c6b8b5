"""The change feed on Kafka: one JSON message per segment entry or exit, keyed by customer id.

Built from the worker's own membership changes and sent before the envelope that caused them is
committed, so a crash re-sends rather than loses them (at-least-once: a consumer drops repeats by
``(customer, segment, direction, version)``). The fields are those of the Redis Stream entries
that ``write_customer.lua`` adds, which carry each transition exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from streams.pipeline.batch import MembershipChange

FEED_FIELDS = (
    "customer",
    "segment",
    "direction",
    "reason",
    "variant",
    "rules_version",
    "model_version",
    "version",
    "at",
)


def feed_messages(
    change: MembershipChange, variant_of: Callable[[str, str], str], version: int, now: float
) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) per transition; ``variant_of(segment, customer)`` names an exit's variant."""
    key = change.customer_id.encode()
    transitions = [(sid, "enter") for sid in sorted(change.entered)]
    transitions += [(sid, "exit") for sid in sorted(change.exited)]
    for segment, direction in transitions:
        variant = change.variants.get(segment) or variant_of(segment, change.customer_id)
        message = {
            "customer": change.customer_id,
            "segment": segment,
            "direction": direction,
            "reason": change.reason,
            "variant": variant,
            "rules_version": change.rules_version,
            "model_version": change.model_version,
            "version": version,
            "at": round(now, 3),
        }
        yield key, json.dumps(message, separators=(",", ":")).encode()
