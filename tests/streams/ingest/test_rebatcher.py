"""The rebatcher's consumer and its retry path (the forwarding itself runs against a real Kafka in
tests/integration)."""

from __future__ import annotations

import asyncio
import inspect
from types import SimpleNamespace

from aiokafka import TopicPartition
from aiokafka.consumer.fetcher import Fetcher

from streams.ingest.pacing import AgentProgress
from streams.ingest.rebatcher import (
    FETCH_MIN_BYTES,
    IDLE_FETCH_WAIT_MS,
    IDLE_WAIT_S,
    Rebatcher,
    consumer_options,
    rewind_to_committed,
)
from streams.settings import Settings


class AssignedNothing:
    """What aiokafka's consumer answers during a rebalance: no partitions, and seek_to_committed()
    raises AssertionError("No partitions are currently assigned")."""

    def __init__(self, assigned: set[int]) -> None:
        self.assigned = assigned
        self.rewound = 0

    def assignment(self) -> set[int]:
        return self.assigned

    async def seek_to_committed(self) -> None:
        assert self.assigned, "No partitions are currently assigned"
        self.rewound += 1


def test_a_retry_during_a_rebalance_does_not_end_the_rebatcher() -> None:
    """Issue 17: a Kafka error while no partition was assigned made the retry path raise an
    AssertionError, which ended the rebatcher task."""
    idle, busy = AssignedNothing(set()), AssignedNothing({0, 1})
    asyncio.run(rewind_to_committed(idle))
    asyncio.run(rewind_to_committed(busy))
    assert (idle.rewound, busy.rewound) == (0, 1)


class ManuallyAssigned:
    """The part of aiokafka's consumer the rebatcher uses to follow the agent's partitions."""

    def __init__(self) -> None:
        self.assigned: set[TopicPartition] = set()
        self.commits: list[dict[TopicPartition, int]] = []

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = set(partitions)

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets)


def partitions_of(consumer: ManuallyAssigned) -> set[int]:
    return {tp.partition for tp in consumer.assigned}


def test_the_rebatcher_reads_the_partitions_its_agent_owns_and_joins_no_group() -> None:
    """Issue 17/18: a consumer group of the rebatchers' own assigned partitions apart from
    Faust's, and after a kill -9 each rejoin waited for a dead member's session."""
    settings = Settings(app_id="shop")
    assert "session_timeout_ms" not in consumer_options(settings)  # no membership to time out
    rebatcher = Rebatcher(settings, AgentProgress(lambda: {1, 3}))
    consumer = ManuallyAssigned()

    async def follow(partitions: set[int]) -> bool:
        rebatcher.follow(partitions)
        return await rebatcher._follow_assignment(consumer)

    assert asyncio.run(follow({1, 3}))
    assert partitions_of(consumer) == {1, 3} == rebatcher.feeding
    assert {tp.topic for tp in consumer.assigned} == {settings.events_topic}


def test_partitions_taken_away_are_committed_then_forgotten() -> None:
    settings = Settings()
    rebatcher = Rebatcher(settings, AgentProgress(lambda: {0, 1}))
    consumer = ManuallyAssigned()
    first, second = (TopicPartition(settings.events_topic, p) for p in (0, 1))

    async def scenario() -> bool:
        rebatcher.follow({0, 1})
        await rebatcher._follow_assignment(consumer)
        rebatcher._uncommitted = {first: 10, second: 20}
        rebatcher._held = {first: ["held"], second: ["held"]}
        rebatcher.follow({1})
        return await rebatcher._follow_assignment(consumer)

    assert asyncio.run(scenario())
    assert consumer.commits == [{first: 10, second: 20}]  # before the assignment changed
    assert partitions_of(consumer) == {1}
    assert list(rebatcher._held) == [second]


def test_with_nothing_to_read_the_rebatcher_waits_until_told() -> None:
    rebatcher = Rebatcher(Settings(), AgentProgress(set))
    consumer = ManuallyAssigned()

    async def scenario() -> tuple[bool, bool]:
        waiting = asyncio.ensure_future(rebatcher._follow_assignment(consumer))
        await asyncio.sleep(0)
        rebatcher.follow({2})
        idle = await asyncio.wait_for(waiting, IDLE_WAIT_S / 2)  # woken, not timed out
        return idle, await rebatcher._follow_assignment(consumer)

    assert asyncio.run(scenario()) == (False, True)
    assert partitions_of(consumer) == {2}


class Fetches:
    """aiokafka's consumer as the rebatcher reads it: what ``getmany`` returns in turn, and the
    fetcher whose request sizes the rebatcher sets."""

    def __init__(self, *replies: dict[TopicPartition, list[object]]) -> None:
        self.replies = list(replies)
        self._fetcher = SimpleNamespace(_fetch_min_bytes=FETCH_MIN_BYTES, _fetch_max_wait_ms=10)

    async def getmany(
        self, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[object]]:
        return self.replies.pop(0)

    def fetch_sizes(self) -> tuple[int, int]:
        return self._fetcher._fetch_min_bytes, self._fetcher._fetch_max_wait_ms


def test_an_idle_rebatcher_fetches_at_the_first_byte_and_a_busy_one_waits_for_fuller() -> None:
    """An idle worker fetched every 10 ms, most of the 0.15 cores it used at rest."""
    tp = TopicPartition("events", 0)
    consumer = Fetches({}, {}, {tp: [object()]}, {})
    rebatcher = Rebatcher(Settings(), AgentProgress(lambda: []))
    sizes = []
    for wait_ms in (0, 50, 0, 0):  # nothing held, so a wait; then taken as a round goes on
        asyncio.run(rebatcher._take_arrived(consumer, wait_ms))
        sizes.append(consumer.fetch_sizes())
    busy, idle = (FETCH_MIN_BYTES, 10), (1, IDLE_FETCH_WAIT_MS)
    # Nothing in a look without waiting says nothing; nothing in a wait is idle; events are busy.
    assert sizes == [busy, idle, busy, busy]


def test_aiokafka_reads_the_fetch_sizes_each_time_it_builds_a_request() -> None:
    """The rebatcher changes them on the running consumer: this fails if aiokafka stops reading
    them per request."""
    source = inspect.getsource(Fetcher._get_actions_per_node)
    assert "self._fetch_max_wait_ms,\n                self._fetch_min_bytes," in source
