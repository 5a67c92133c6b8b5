"""Dead letters once: a replayed rejected record at or below its source's mark is not sent again."""

from __future__ import annotations

from streams.events import Rejection
from streams.pipeline.batch import DeadLetter, InputRecord
from streams.pipeline.dead_letters import decode_marks, encode_marks, first_time
from streams.pipeline.identity import IDENTITY_SOURCE


def dead(offset: int, topic: str = "events", partition: int = 3) -> DeadLetter[None]:
    record = InputRecord(b"c1", b"{", topic, partition, offset, None)
    return DeadLetter(record, Rejection("bad_json", "", "not json"))


def offsets(letters: list[DeadLetter[None]]) -> list[int]:
    return [letter.record.offset for letter in letters]


def test_a_replay_sends_only_what_lies_beyond_the_mark_and_moves_it() -> None:
    fresh, marks = first_time([dead(5), dead(9)], {})
    assert (offsets(fresh), marks) == ([5, 9], {"events:3": 9})
    # A crash replays offsets 0..12 (the rebatcher resends from its last commit).
    replayed, marks = first_time([dead(5), dead(9), dead(12)], marks)
    assert (offsets(replayed), marks) == ([12], {"events:3": 12})
    assert first_time([dead(12)], marks) == ([], marks)


def test_each_source_keeps_its_own_mark() -> None:
    fresh, marks = first_time([dead(7, partition=1)], {"events:3": 40})
    assert offsets(fresh) == [7]
    assert marks == {"events:3": 40, "events:1": 7}


def test_records_without_an_offset_are_always_sent_and_never_marked() -> None:
    identity = dead(-1, topic=IDENTITY_SOURCE, partition=-1)
    assert first_time([identity], {}) == ([identity], {})


def test_marks_survive_their_encoding() -> None:
    marks = {"events:3": 41, "events:0": 7}
    assert decode_marks(encode_marks(marks)) == marks
    assert decode_marks(None) == {}
