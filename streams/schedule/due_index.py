"""Which customers to re-evaluate when, per partition: a heap with lazy deletion.

A profile's due instant moves whenever an event changes it, so entries are never removed from the
heap; an entry whose instant no longer matches the customer's current one is skipped when popped.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable


class DueIndex:
    """Due instants of the customers of the partitions this worker owns.

    >>> index = DueIndex()
    >>> index.set(3, "c1", 100.0); index.set(3, "c2", 50.0); index.set(3, "c1", 200.0)
    >>> index.pop_due(150.0)
    {3: ['c2']}
    >>> index.pop_due(250.0)
    {3: ['c1']}
    """

    def __init__(self) -> None:
        self._heaps: dict[int, list[tuple[float, str]]] = {}
        self._due: dict[int, dict[str, float]] = {}

    def set(self, partition: int, customer: str, due: float | None) -> None:
        """The customer's due instant is now ``due`` (None: nothing to wait for)."""
        current = self._due.setdefault(partition, {})
        if due is None:
            current.pop(customer, None)
            return
        if current.get(customer) != due:
            current[customer] = due
            heap = self._heaps.setdefault(partition, [])
            heapq.heappush(heap, (due, customer))
            if len(heap) > 2 * len(current) + 1024:  # mostly superseded entries: rebuild
                heap[:] = [(when, who) for who, when in current.items()]
                heapq.heapify(heap)

    def offer(self, partition: int, customer: str, due: float | None) -> None:
        """Like :meth:`set`, but keep an earlier instant already known.

        Scans read profiles while events keep changing them: an instant from a scan may be stale,
        and waking up early only costs a re-evaluation, while waking up late would miss a change.
        """
        known = self._due.get(partition, {}).get(customer)
        if due is not None and (known is None or due < known):
            self.set(partition, customer, due)

    def pop_due(self, now: float, limit: int = 10_000) -> dict[int, list[str]]:
        """Remove and return, per partition, up to ``limit`` customers due by ``now``."""
        out: dict[int, list[str]] = {}
        taken = 0
        for partition, heap in self._heaps.items():
            current = self._due[partition]
            while heap and heap[0][0] <= now and taken < limit:
                due, customer = heapq.heappop(heap)
                if current.get(customer) == due:
                    del current[customer]
                    out.setdefault(partition, []).append(customer)
                    taken += 1
        return out

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget partitions this worker no longer owns."""
        for partition in partitions:
            self._heaps.pop(partition, None)
            self._due.pop(partition, None)

    def next_due(self) -> float | None:
        firsts = [heap[0][0] for heap in self._heaps.values() if heap]
        return min(firsts) if firsts else None

    def __len__(self) -> int:
        return sum(len(current) for current in self._due.values())
