"""Completions: an envelope's Redis and changelog writes run behind the agent, one at a time per
partition, and their failures reach the agent."""

from __future__ import annotations

import asyncio

import pytest

from streams.completion import Completions


class Boom(Exception):
    pass


async def _finish(log: list[str], name: str, gate: asyncio.Event | None = None) -> None:
    log.append(f"{name} started")
    if gate is not None:
        await gate.wait()
    log.append(f"{name} done")


async def _fail() -> None:
    await asyncio.sleep(0)
    raise Boom("Redis refused the write")


def test_partitions_overlap_and_one_partition_never_does() -> None:
    async def scenario() -> list[str]:
        log: list[str] = []
        gate = asyncio.Event()
        completions = Completions()
        await completions.start(0, _finish(log, "p0-e1", gate))
        await completions.start(1, _finish(log, "p1-e1"))
        await asyncio.sleep(0.01)
        assert log == ["p0-e1 started", "p1-e1 started", "p1-e1 done"]  # p1 did not wait for p0
        starting = asyncio.ensure_future(completions.start(0, _finish(log, "p0-e2")))
        await asyncio.sleep(0.01)
        assert not starting.done()  # p0's next waits for its last
        gate.set()
        await starting
        await completions.wait_all()
        return log

    assert asyncio.run(scenario())[-3:] == ["p0-e1 done", "p0-e2 started", "p0-e2 done"]


def test_a_failure_reaches_the_agent_at_its_next_envelope() -> None:
    async def scenario() -> None:
        completions = Completions()
        await completions.start(2, _fail())
        await asyncio.sleep(0.01)
        with pytest.raises(Boom):
            completions.raise_failed()
        completions.raise_failed()  # reported once

    asyncio.run(scenario())


def test_waiting_for_a_failed_partition_raises_and_the_next_start_does_not_run() -> None:
    async def scenario() -> list[str]:
        log: list[str] = []
        completions = Completions()
        await completions.start(2, _fail())
        with pytest.raises(Boom):
            await completions.start(2, _finish(log, "after"))
        return log

    assert asyncio.run(scenario()) == []


def test_wait_all_lets_every_partition_finish_then_raises_the_failure() -> None:
    async def scenario() -> list[str]:
        log: list[str] = []
        completions = Completions()
        await completions.start(0, _fail())
        await completions.start(1, _finish(log, "p1"))
        with pytest.raises(Boom):
            await completions.wait_all()
        return log

    assert asyncio.run(scenario()) == ["p1 started", "p1 done"]


def test_stopping_cancels_what_does_not_end_in_time() -> None:
    async def scenario() -> list[str]:
        log: list[str] = []
        completions = Completions()
        await completions.start(0, _finish(log, "stuck", asyncio.Event()))  # e.g. Redis down
        await completions.start(1, _finish(log, "quick"))
        await completions.finish(timeout_s=0.05)
        await asyncio.sleep(0)
        assert len(completions) == 0
        return log

    assert asyncio.run(scenario()) == ["stuck started", "quick started", "quick done"]
