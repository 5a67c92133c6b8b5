"""Finishing an envelope behind the agent: its Redis write, then its changelog, per partition.

Each envelope waits on two round trips after its computation: Redis (the published segments) and
Kafka (the changelog acknowledgement). Done in line, one after the other for every partition a
worker owns, they were most of an envelope's wall time at moderate rates (measured: 3.5 of 5.5 ms),
and a paced cycle of eight partitions queued behind them. So the agent hands them to a completion
and goes on with the next envelope; completions of different partitions overlap, those of one
partition never do: the agent waits for a partition's last completion before it reads that
partition's profiles or applied envelope again, and before its partitions are revoked.

Nothing is committed ahead of its work by this: Faust may commit an envelope's offset while its
completion runs, exactly as it may after a rebalance (see :mod:`streams.ingest.sequence`), and a
worker restarted after a crash then reads such envelopes back from Kafka because the changelog
does not name them as applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class Completions:
    """At most one running completion per partition; their failures surface in the agent.

    >>> async def demo() -> list[str]:
    ...     done: list[str] = []
    ...     async def finish(name: str) -> None:
    ...         await asyncio.sleep(0)
    ...         done.append(name)
    ...     completions = Completions()
    ...     await completions.start(0, finish("p0-e1"))
    ...     await completions.start(1, finish("p1-e1"))
    ...     await completions.start(0, finish("p0-e2"))  # waits for p0-e1 first
    ...     await completions.wait_all()
    ...     return done
    >>> asyncio.run(demo())
    ['p0-e1', 'p1-e1', 'p0-e2']
    """

    def __init__(self) -> None:
        self._running: dict[int, asyncio.Future[None]] = {}

    async def start(self, partition: int, completion: Coroutine[Any, Any, None]) -> None:
        """Run ``completion`` in the background once ``partition``'s previous one is done."""
        try:
            await self.wait(partition)
        except BaseException:
            completion.close()  # never started: no "coroutine was never awaited" warning
            raise
        self._running[partition] = asyncio.ensure_future(completion)

    async def wait(self, partition: int) -> None:
        """Return once ``partition``'s completion is done; raise what it raised."""
        running = self._running.get(partition)
        if running is None:
            return
        try:
            await asyncio.shield(running)  # a cancelled waiter must not cancel the write
        finally:
            if running.done() and self._running.get(partition) is running:
                del self._running[partition]

    async def wait_all(self) -> None:
        """Wait for every partition's completion; raise the first failure after all are done."""
        failures: list[BaseException] = []
        for partition in list(self._running):
            try:
                await self.wait(partition)
            except Exception as exc:  # every partition must finish before the first failure
                failures.append(exc)
        if failures:
            raise failures[0]

    async def finish(self, timeout_s: float) -> None:
        """On stopping: let running completions end within ``timeout_s``, then cancel the rest
        (e.g. one retrying against a Redis that is down); a restart reads their envelopes back."""
        running = [future for future in self._running.values() if not future.done()]
        self._running.clear()
        if not running:
            return
        _, unfinished = await asyncio.wait(running, timeout=timeout_s)
        for future in unfinished:
            future.cancel()

    def raise_failed(self) -> None:
        """Raise the failure of any completion that ended with one (and forget finished ones)."""
        for partition, running in list(self._running.items()):
            if running.done():
                del self._running[partition]
                running.result()

    def __len__(self) -> int:
        return sum(1 for running in self._running.values() if not running.done())
