"""Pacing the rebatcher by the agent: the next envelope of a partition leaves once the last is done.

Every envelope costs the agent a fixed amount whatever it holds — Faust's bookkeeping, one Redis
round trip, a changelog write per customer — so a rebatcher that forwards whatever arrived since its
last poll floods the agent with envelopes of a few events at moderate rates, and the fixed costs
alone outrun the CPU (measured: seconds of latency at half the throughput the worker reaches on a
backlog). Instead the rebatcher holds what it reads until this worker's agent has handled every
envelope it sent last (or a second passed: Faust may skip one during a rebalance): idle, an event
leaves at once; busy, events travel in fewer, fuller envelopes (group commit, as in databases).
Forwarding each partition as soon as its own last envelope was handled was measured too: at half
the maximum rate it sent 2.6 times as many envelopes and raised p99 latency from 169 to 277 ms.
Partitions whose envelopes another worker's agent consumes are not waited for.
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
        self.version = 0  # counts envelopes handled: a change since a check shows in it

    def handled(self, partition: int, offset: int) -> None:
        if offset > self._handled.get(partition, -1):
            self._handled[partition] = offset
        self.version += 1
        self._changed.set()

    def behind(self, sent: Mapping[int, int]) -> bool:
        """True while an envelope in ``sent`` (partition -> offset) awaits the local agent."""
        owned = self._owned()
        return any(
            partition in owned and self._handled.get(partition, -1) < offset
            for partition, offset in sent.items()
        )

    async def wait_for_change(self, seen: int, timeout_s: float) -> None:
        """Return once the agent handled an envelope after :attr:`version` was ``seen``, or after
        ``timeout_s``."""
        if self.version != seen:
            return
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout_s)
        except TimeoutError:
            return
