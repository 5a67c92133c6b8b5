"""Pacing the rebatcher by the agent: the next envelope of a partition leaves once the last is done.

Every envelope costs the agent a fixed amount whatever it holds — Faust's bookkeeping, one Redis
round trip, a changelog write per customer — so a rebatcher that forwards whatever arrived since its
last poll floods the agent with envelopes of a few events at moderate rates, and the fixed costs
alone outrun the CPU (measured: seconds of latency at half the throughput the worker reaches on a
backlog). Instead the rebatcher waits, before its next poll, until this worker's agent has handled
the envelopes it sent last, or ``SEGSTREAM_BATCH_MAX_WAIT_S`` passed: idle, an event leaves at
once; busy, events wait in Kafka and travel in fewer, fuller envelopes (group commit, as in
databases). Partitions whose envelopes another worker's agent consumes are not waited for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping


class AgentProgress:
    """The last envelope offset the local agent handled, per partition of the batches topic."""

    def __init__(self, owned: Callable[[], Collection[int]]) -> None:
        self._owned = owned  # the batches-topic partitions this worker's agent consumes now
        self._handled: dict[int, int] = {}
        self._changed = asyncio.Event()

    def handled(self, partition: int, offset: int) -> None:
        if offset > self._handled.get(partition, -1):
            self._handled[partition] = offset
        self._changed.set()

    def behind(self, sent: Mapping[int, int]) -> bool:
        """True while an envelope in ``sent`` (partition -> offset) awaits the local agent."""
        owned = self._owned()
        return any(
            partition in owned and self._handled.get(partition, -1) < offset
            for partition, offset in sent.items()
        )

    async def wait(self, sent: Mapping[int, int], timeout_s: float) -> None:
        """Return once the agent handled every envelope in ``sent``, or after ``timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.behind(sent):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return
