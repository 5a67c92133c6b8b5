"""Dead letters once across crashes: the source offsets each partition dead-lettered, kept in its
changelog.

A crash replays messages: Faust delivers again the envelopes the changelog does not name as
applied, and the rebatcher sends events again from its last committed offsets, in new envelopes.
Profiles drop such repeats by source offset; a rejected event has no profile to remember it, so
each partition of the profiles table keeps marks under a key no customer id can be (ids hold no
whitespace): per source, the highest offset it dead-lettered. A rejected record at or below its
source's mark was dead-lettered before.

The marks are written with the batch's changelog, whose last record names the envelope, and only
once Kafka has the batch's dead letters: a mark must never name a dead letter that is not there.
A worker killed between the two has sent dead letters no mark names; so the marks also say where
the last dead letter they name went (dead-letter partition -> offset), and the next owner of the
partition reads the dead-letter topic from there before it sends any (``SentBefore``;
:mod:`streams.ingest.dead_letter_log`). Each source's dead letters go to one partition of that
topic, the source's own partition number (modulo the topic's size), so that one read finds them.

Records of a source arrive in offset order (the rebatcher forwards a partition in order, and
replays only go back), so a rejected record below the mark cannot be one never dead-lettered.
Records without an offset (identity messages) are not marked: they are sent again if replayed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from streams.pipeline.batch import DeadLetter

DEAD_LETTERED_KEY = b" dead-lettered"
# A dead letter's headers: the reason, kind and field, and the source it was read from.
HEADER_PREFIX = "segstream-dlq-"

Handle = TypeVar("Handle")


@dataclass(slots=True)
class SentBefore:
    """What a read of one dead-letter partition found: per source the highest offset named, and
    the last offset read (None if it held nothing)."""

    sources: dict[str, int] = field(default_factory=dict)
    last: int | None = None

    def add(self, offset: int, source: tuple[str, int] | None) -> None:
        self.last = offset
        if source is not None:
            name, source_offset = source
            self.sources[name] = max(source_offset, self.sources.get(name, -1))


@dataclass(slots=True)
class Marks:
    """What a partition dead-lettered: per source the highest offset, and the offset of the last
    one in each dead-letter partition that these marks cover.

    >>> marks = Marks({"events:3": 41}, {3: 17})
    >>> marks.include(3, SentBefore({"events:3": 44, "events:7": 2}, last=19))
    >>> marks
    Marks(sources={'events:3': 44, 'events:7': 2}, written={3: 19})
    >>> decode_marks(encode_marks(marks)) == marks, decode_marks(None)
    (True, Marks(sources={}, written={}))
    """

    sources: dict[str, int] = field(default_factory=dict)
    written: dict[int, int] = field(default_factory=dict)

    def include(self, partition: int, found: SentBefore) -> None:
        """Add what was found in dead-letter ``partition`` (sent before, or just now)."""
        for source, offset in found.sources.items():
            self.sources[source] = max(offset, self.sources.get(source, -1))
        if found.last is not None:
            self.written[partition] = max(found.last, self.written.get(partition, -1))


def decode_marks(raw: bytes | None) -> Marks:
    if raw is None:
        return Marks()
    data = json.loads(raw)
    written = {int(partition): offset for partition, offset in data["written"].items()}
    return Marks(dict(data["sources"]), written)


def encode_marks(marks: Marks) -> bytes:
    data = {"sources": marks.sources, "written": {str(p): o for p, o in marks.written.items()}}
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def dead_letter_partition(source_partition: int, partitions: int) -> int | None:
    """The dead-letter partition of a source partition's dead letters (None: no source partition,
    the producer picks one by key).

    >>> dead_letter_partition(5, partitions=4), dead_letter_partition(-1, partitions=4)
    (1, None)
    """
    return source_partition % partitions if source_partition >= 0 else None


def first_time(
    dead_letters: Sequence[DeadLetter[Handle]], sources: Mapping[str, int]
) -> tuple[list[DeadLetter[Handle]], dict[str, int]]:
    """The dead letters not sent before, and the source marks that include them.

    >>> from streams.events import Rejection
    >>> from streams.pipeline.batch import InputRecord
    >>> def dead(offset: int) -> DeadLetter[None]:
    ...     return DeadLetter(InputRecord(b"c1", b"{", "events", 3, offset, None),
    ...                       Rejection("bad_json", "", "not json"))
    >>> fresh, marks = first_time([dead(40), dead(41), dead(42)], {"events:3": 41})
    >>> [d.record.offset for d in fresh], marks
    ([42], {'events:3': 42})
    """
    updated = dict(sources)
    fresh = []
    for dead in dead_letters:
        record = dead.record
        if record.offset < 0:
            fresh.append(dead)
        elif record.offset > updated.get(record.source, -1):
            fresh.append(dead)
            updated[record.source] = record.offset
    return fresh, updated
