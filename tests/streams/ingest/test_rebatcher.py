"""The rebatcher's consumer and its retry path (the forwarding itself runs against a real Kafka in
tests/integration)."""

from __future__ import annotations

import asyncio

from streams.ingest.rebatcher import consumer_options, rewind_to_committed
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


def test_the_ingest_group_drops_a_dead_member_when_faust_s_group_does() -> None:
    for session_s in (6.0, 10.0, 60.0, 300.0):
        options = consumer_options(Settings(kafka_session_timeout_s=session_s))
        assert options["session_timeout_ms"] == session_s * 1000
        assert options["heartbeat_interval_ms"] <= options["session_timeout_ms"] / 3
