"""Envelopes round-trip every record exactly and refuse anything else."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.ingest.envelope import (
    Envelope,
    EnvelopeError,
    Kind,
    Record,
    SourceRecord,
    pack,
    unpack,
)
from streams.ingest.rebatcher import envelopes_for

records = st.builds(
    SourceRecord,
    partition=st.integers(0, 2**31 - 1),
    offset=st.integers(-1, 2**63 - 1),
    key=st.none() | st.binary(max_size=64),
    value=st.none() | st.binary(max_size=512),
)


@given(st.sampled_from(Kind), st.text(min_size=1, max_size=40), st.lists(records, max_size=30))
def test_round_trip(kind: Kind, topic: str, items: list[SourceRecord]) -> None:
    envelope = Envelope(kind, topic, items)
    assert unpack(pack(envelope)) == envelope


@given(st.binary(max_size=200))
def test_garbage_is_refused_with_envelope_error(raw: bytes) -> None:
    with contextlib.suppress(EnvelopeError):
        unpack(raw)


def test_truncated_envelope_is_refused() -> None:
    raw = pack(Envelope(Kind.EVENTS, "t", [SourceRecord(0, 1, b"k", b"value")]))
    with pytest.raises(EnvelopeError):
        unpack(raw[:-2])


class _Record:
    def __init__(self, offset: int, size: int) -> None:
        self.partition, self.offset, self.key, self.value = 3, offset, b"k", b"x" * size


def test_envelopes_split_by_size_and_keep_every_record_in_order() -> None:
    source = [_Record(offset, 1000) for offset in range(100)]
    chunks = list(envelopes_for("events", source, max_bytes=10_000))
    assert len(chunks) > 5
    offsets = [r.offset for raw, _ in chunks for r in unpack(raw).records]
    assert offsets == list(range(100))
    # What the rebatcher applies is what it sent: the records the bytes hold, in the same chunks.
    assert [unpack(raw) for raw, _ in chunks] == [
        Envelope(Kind.EVENTS, "events", [SourceRecord(*_fields(r)) for r in held.records])
        for _, held in chunks
    ]


def _fields(record: Record) -> tuple[int, int, bytes | None, bytes | None]:
    return record.partition, record.offset, record.key, record.value
