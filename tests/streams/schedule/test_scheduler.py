"""Timers fire each due customer once; scans find stale profiles and report progress."""

from __future__ import annotations

import asyncio

from streams.schedule.scheduler import SEND_CHUNK, Scheduler


class Sent:
    def __init__(self) -> None:
        self.messages: list[tuple[int, list[str], str]] = []

    async def __call__(self, partition: int, customers: list[str], reason: str) -> None:
        self.messages.append((partition, customers, reason))


def assess_by_name(raw: bytes, now: float) -> tuple[bool, float | None]:
    """Test profiles are their own verdict: b"stale", b"due:<t>", b"bad" or anything else."""
    if raw == b"bad":
        raise ValueError("garbled")
    if raw.startswith(b"due:"):
        return False, float(raw[4:])
    return raw == b"stale", None


def test_timers_fire_due_customers_once_per_partition() -> None:
    sent = Sent()
    scheduler = Scheduler(sent, assess_by_name)
    scheduler.settled(0, {"a": 10.0, "b": None, "c": 99.0})
    scheduler.settled(2, {"d": 5.0})
    assert asyncio.run(scheduler.fire_due(now=20.0)) == 2
    assert sorted(sent.messages) == [(0, ["a"], "elapsed"), (2, ["d"], "elapsed")]
    assert asyncio.run(scheduler.fire_due(now=20.0)) == 0


def test_a_scan_sends_stale_profiles_schedules_the_rest_and_tracks_progress() -> None:
    sent = Sent()
    scheduler = Scheduler(sent, assess_by_name)
    stored = {
        0: [(b"s1", b"stale"), (b"t1", b"due:50"), (b"ok", b"fine"), (b"x", b"bad")],
        1: [(f"s{n}".encode(), b"stale") for n in range(SEND_CHUNK + 1)],
    }

    async def scan() -> None:
        await scheduler.start_scan(
            [0, 1], lambda p: iter(stored[p]), lambda p: len(stored[p]), "v2", "rule_change"
        )

    asyncio.run(scan())
    stale_sent = {p: sum(len(c) for q, c, _ in sent.messages if q == p) for p in (0, 1)}
    assert stale_sent == {0: 1, 1: SEND_CHUNK + 1}
    assert {reason for _, _, reason in sent.messages} == {"rule_change"}
    assert scheduler.due.next_due() == 50.0
    progress = scheduler.progress[1]
    assert (progress.total, progress.scanned, progress.stale) == (SEND_CHUNK + 1,) * 3
    assert not progress.done  # sent, not yet re-evaluated by the agent
    scheduler.processed(1, SEND_CHUNK + 1, "rule_change")
    assert progress.done
    assert progress.finished_at is not None
    assert scheduler.progress[0].scanned == 4  # the unreadable profile is counted and skipped


def test_revoked_partitions_lose_their_timers_and_progress() -> None:
    scheduler = Scheduler(Sent(), assess_by_name)
    scheduler.settled(3, {"a": 1.0})
    scheduler.forget([3])
    assert asyncio.run(scheduler.fire_due(now=10.0)) == 0


def test_a_new_scan_takes_over_the_unfinished_partitions_of_the_running_one() -> None:
    sent = Sent()
    scheduler = Scheduler(sent, assess_by_name)
    stored = {0: [(f"c{n}".encode(), b"fine") for n in range(1200)], 1: [(b"s", b"stale")]}

    async def scenario() -> None:
        scheduler.start_scan([0], lambda p: iter(stored[p]), lambda p: len(stored[p]), "v1",
                             "rule_change")  # fmt: skip
        await asyncio.sleep(0)  # the first scan stops after its first chunk
        assert 0 < scheduler.progress[0].scanned < 1200
        await scheduler.start_scan(
            [1], lambda p: iter(stored[p]), lambda p: len(stored[p]), "v1", "elapsed"
        )

    asyncio.run(scenario())
    assert scheduler.progress[0].scanned == 1200
    assert scheduler.progress[0].reason == "rule_change"
    assert scheduler.progress[1].reason == "elapsed"
    assert sent.messages == [(1, ["s"], "elapsed")]
