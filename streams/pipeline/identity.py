"""Identity messages between partitions: merging a visitor into a customer, forwarding, erasure.

An anonymous visitor's profile lives in the partition of its anonymous id, the customer's in the
partition of the customer id; only Kafka connects the two. Every step below is a message keyed by
the id whose partition must act next, sent through the batches topic:

1. ``identify(C, A)`` at C's partition sends ``merge_request`` to A.
2. At A's partition, A becomes an alias of C (its profile kept, marked ``merged_into``), its
   segments are withdrawn, and ``merge_state`` carries A's profile to C.
3. At C's partition, the state is folded into C once (the merge id is remembered).
4. Later events that name only A arrive at A's partition and are forwarded to C.
5. ``forget`` of C sends ``forget_alias`` to each alias, which erases it.

A replayed step repeats its messages; the receiving step recognises and ignores the repeat.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

IDENTITY_SOURCE = "segstream.identity"

Op = Literal["merge_request", "merge_state", "forward", "forget_alias"]


@dataclass(frozen=True, slots=True)
class IdentityMessage:
    op: Op
    subject: str  # the id whose partition handles this message (its Kafka key)
    other: str  # the id on the other side of the merge
    merge_id: str = ""  # identify event id: makes each merge happen once
    payload: Any = None  # merge_state: encoded profile fields; forward: the event JSON text

    def encode(self) -> bytes:
        return json.dumps(
            {
                "op": self.op,
                "subject": self.subject,
                "other": self.other,
                "merge_id": self.merge_id,
                "payload": self.payload,
            },
            separators=(",", ":"),
        ).encode()


class IdentityMessageError(ValueError):
    pass


def decode_identity(raw: bytes | None) -> IdentityMessage:
    try:
        data = json.loads(raw or b"")
        return IdentityMessage(
            op=data["op"],
            subject=data["subject"],
            other=data["other"],
            merge_id=data.get("merge_id", ""),
            payload=data.get("payload"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise IdentityMessageError(f"bad identity message {raw[:80] if raw else raw!r}") from exc
