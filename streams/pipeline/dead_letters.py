"""Dead letters once across crashes: the source offsets each partition dead-lettered, kept in its
changelog.

A crash replays messages: Faust delivers again the envelopes the changelog does not name as
applied, and the rebatcher sends events again from its last committed offsets, in new envelopes.
Profiles drop such repeats by source offset; a rejected event has no profile to remember it, so
each partition of the profiles table keeps, under a key no customer id can be (ids hold no
whitespace), the highest source offset it dead-lettered per source. It is written with the batch's
changelog, whose last record names the envelope: once the changelog says a batch happened, its
dead letters are marked too. A rejected record at or below the mark was dead-lettered before.

Records of a source arrive in offset order (the rebatcher forwards a partition in order, and
replays only go back), so a rejected record below the mark cannot be one never dead-lettered.
Records without an offset (identity messages) are not marked: they are sent again if replayed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TypeVar

from streams.pipeline.batch import DeadLetter

DEAD_LETTERED_KEY = b" dead-lettered"

Handle = TypeVar("Handle")


def decode_marks(raw: bytes | None) -> dict[str, int]:
    """The stored marks, source (topic:partition) -> highest offset dead-lettered.

    >>> decode_marks(None), decode_marks(b'{"events:3":41}')
    ({}, {'events:3': 41})
    """
    if raw is None:
        return {}
    marks: dict[str, int] = json.loads(raw)
    return marks


def encode_marks(marks: Mapping[str, int]) -> bytes:
    return json.dumps(dict(marks), separators=(",", ":"), sort_keys=True).encode()


def first_time(
    dead_letters: Sequence[DeadLetter[Handle]], marks: Mapping[str, int]
) -> tuple[list[DeadLetter[Handle]], dict[str, int]]:
    """The dead letters not sent before, and the marks that include them.

    >>> from streams.events import Rejection
    >>> from streams.pipeline.batch import InputRecord
    >>> def dead(offset: int) -> DeadLetter[None]:
    ...     return DeadLetter(InputRecord(b"c1", b"{", "events", 3, offset, None),
    ...                       Rejection("bad_json", "", "not json"))
    >>> fresh, marks = first_time([dead(40), dead(41), dead(42)], {"events:3": 41})
    >>> [d.record.offset for d in fresh], marks
    ([42], {'events:3': 42})
    """
    updated = dict(marks)
    fresh = []
    for dead in dead_letters:
        record = dead.record
        if record.offset < 0:
            fresh.append(dead)
        elif record.offset > updated.get(record.source, -1):
            fresh.append(dead)
            updated[record.source] = record.offset
    return fresh, updated
