"""Dead letters once: a replayed rejected record at or below its source's mark is not sent again,
nor one that the dead-letter topic holds beyond the marks."""

from __future__ import annotations

from streams.events import Rejection
from streams.pipeline.batch import DeadLetter, InputRecord
from streams.pipeline.dead_letters import (
    Marks,
    SentBefore,
    dead_letter_partition,
    decode_marks,
    encode_marks,
    first_time,
)
from streams.pipeline.identity import IDENTITY_SOURCE


def dead(offset: int, topic: str = "events", partition: int = 3) -> DeadLetter[None]:
    record = InputRecord(b"c1", b"{", topic, partition, offset, None)
    return DeadLetter(record, Rejection("bad_json", "", "not json"))


def offsets(letters: list[DeadLetter[None]]) -> list[int]:
    return [letter.record.offset for letter in letters]


def test_a_replay_sends_only_what_lies_beyond_the_mark_and_moves_it() -> None:
    fresh, sources = first_time([dead(5), dead(9)], {})
    assert (offsets(fresh), sources) == ([5, 9], {"events:3": 9})
    # A crash replays offsets 0..12 (the rebatcher resends from its last commit).
    replayed, sources = first_time([dead(5), dead(9), dead(12)], sources)
    assert (offsets(replayed), sources) == ([12], {"events:3": 12})
    assert first_time([dead(12)], sources) == ([], sources)


def test_dead_letters_a_crash_sent_beyond_the_marks_are_not_sent_again() -> None:
    marks = Marks({"events:3": 9}, written={3: 100})
    # Read back from dead-letter partition 3 after offset 100: the crashed batch sent 12 and 15.
    found = SentBefore()
    found.add(101, ("events:3", 12))
    found.add(102, ("events:3", 15))
    marks.include(3, found)
    fresh, marks.sources = first_time([dead(12), dead(15), dead(20)], marks.sources)
    assert offsets(fresh) == [20]
    assert marks == Marks({"events:3": 20}, written={3: 102})


def test_each_source_keeps_its_own_mark() -> None:
    fresh, sources = first_time([dead(7, partition=1)], {"events:3": 40})
    assert offsets(fresh) == [7]
    assert sources == {"events:3": 40, "events:1": 7}


def test_records_without_an_offset_are_always_sent_and_never_marked() -> None:
    identity = dead(-1, topic=IDENTITY_SOURCE, partition=-1)
    assert first_time([identity], {}) == ([identity], {})
    assert dead_letter_partition(-1, partitions=4) is None


def test_marks_survive_their_encoding() -> None:
    marks = Marks({"events:3": 41, "events:0": 7}, written={3: 12, 0: 4})
    assert decode_marks(encode_marks(marks)) == marks
    assert decode_marks(None) == Marks()


def test_each_source_partition_has_one_dead_letter_partition() -> None:
    assert [dead_letter_partition(p, partitions=4) for p in range(6)] == [0, 1, 2, 3, 0, 1]
