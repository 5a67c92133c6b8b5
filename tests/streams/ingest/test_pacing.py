"""Pacing: the rebatcher waits for its own agent's progress, not other workers' partitions."""

from __future__ import annotations

import asyncio

from streams.ingest.pacing import AgentProgress


def test_behind_until_the_agent_handled_the_last_envelope_of_each_owned_partition() -> None:
    progress = AgentProgress(lambda: {0, 1})
    sent = {0: 10, 1: 4}
    assert progress.behind(sent)
    progress.handled(0, 10)
    assert progress.behind(sent)
    progress.handled(1, 7)  # later envelopes (identity, re-evaluation) count as well
    assert not progress.behind(sent)


def test_partitions_another_worker_consumes_are_not_waited_for() -> None:
    assert not AgentProgress(lambda: {1}).behind({0: 10, 2: 3})


def test_handled_offsets_never_go_back() -> None:
    progress = AgentProgress(lambda: {0})
    progress.handled(0, 9)
    progress.handled(0, 3)
    assert not progress.behind({0: 9})


def test_waiting_for_a_change_ends_when_the_agent_handles_an_envelope() -> None:
    async def scenario() -> int:
        progress = AgentProgress(lambda: {0})
        seen = progress.version
        asyncio.get_running_loop().call_soon(progress.handled, 0, 5)
        await progress.wait_for_change(seen, timeout_s=3600)  # an hour: only the agent ends it
        return progress.version - seen

    assert asyncio.run(scenario()) == 1


def test_a_change_since_the_check_ends_the_wait_at_once() -> None:
    async def scenario() -> None:
        progress = AgentProgress(lambda: {0})
        seen = progress.version
        progress.handled(0, 1)  # between the rebatcher's look and its wait
        await asyncio.wait_for(progress.wait_for_change(seen, timeout_s=3600), timeout=1)

    asyncio.run(scenario())


def test_waiting_for_a_change_gives_up_after_the_timeout() -> None:
    async def scenario() -> int:
        progress = AgentProgress(lambda: {0})
        await progress.wait_for_change(progress.version, timeout_s=0.05)
        return progress.version

    assert asyncio.run(scenario()) == 0
