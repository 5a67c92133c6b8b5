"""Identity messages leave a batch as one envelope per partition they go to."""

from __future__ import annotations

from streams.ingest.envelope import Kind, unpack
from streams.pipeline.identity import (
    IDENTITY_SOURCE,
    IdentityMessage,
    decode_identity,
    identity_envelopes,
)
from streams.topics import key_partition

PARTITIONS = 8


def _messages(count: int) -> list[IdentityMessage]:
    return [
        IdentityMessage("forward", f"c{n % 37}", f"anon-c{n % 37}", payload=f'{{"n":{n}}}')
        for n in range(count)
    ]


def test_every_message_travels_once_in_its_subjects_partition_in_order() -> None:
    messages = _messages(500)
    envelopes = identity_envelopes(messages, PARTITIONS)
    received: list[IdentityMessage] = []
    for partition, raw in envelopes.items():
        envelope = unpack(raw)
        assert (envelope.kind, envelope.topic) == (Kind.IDENTITY, IDENTITY_SOURCE)
        decoded = [decode_identity(record.value) for record in envelope.records]
        assert {key_partition(m.subject.encode(), PARTITIONS) for m in decoded} == {partition}
        assert decoded == [m for m in messages if m in decoded]  # the batch's order
        received += decoded
    assert sorted(received, key=messages.index) == messages


def test_a_batch_sends_at_most_one_envelope_per_partition() -> None:
    assert len(identity_envelopes(_messages(500), PARTITIONS)) <= PARTITIONS
    assert identity_envelopes([], PARTITIONS) == {}


def test_a_forward_carries_its_source_offset_and_an_older_one_decodes_without() -> None:
    forward = IdentityMessage("forward", "c1", "anon-c1", payload="{}", source="ev:3", offset=42)
    decoded = decode_identity(forward.encode())
    assert decoded == forward
    assert decoded.forwarded_source == "anon-c1@ev:3"  # apart from c1's own offsets in ev:3
    older = b'{"op":"forward","subject":"c1","other":"anon-c1","merge_id":"","payload":"{}"}'
    assert decode_identity(older).offset == -1
    assert b"offset" not in IdentityMessage("merge_request", "anon-c1", "c1", "e1").encode()
