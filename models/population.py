"""The trainer's picture of the customer base: the latest vector of a bounded set of customers.

Segments must describe the customers as they are now, the way an analyst's k-means on a table of
current profiles does. Learning the stream of samples instead weighs every customer by how often
and when it was sampled (a count that only grows is seen young), and boundaries move with that.
So the trainer keeps one vector per customer, replaced whenever the customer is sampled again.

Bounded by a *bottom-k* sample of customer keys: the ``capacity`` customers whose key hashes lowest
are kept. Every customer ever seen had the same chance, whatever its activity, so the kept ones
are a uniform sample of the customer base, and a sampled customer stays in it: its next sample
replaces its vector rather than adding a second one. A new customer enters only by hashing below
the largest kept hash, which evicts that one.

>>> population = LatestVectors(capacity=2)
>>> population.put("a", (1.0,)), population.put("b", (2.0,)), population.put("a", (3.0,))
(True, True, True)
>>> sorted(population.vectors()), population.replaced
([(2.0,), (3.0,)], 1)
>>> kept = [population.put(key, (0.0,)) for key in "cdefgh"]
>>> len(population), sum(kept) <= 6
(2, True)
"""

from __future__ import annotations

import hashlib
import heapq

Vector = tuple[float, ...]


class LatestVectors:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be positive, not {capacity}")
        self.capacity = capacity
        self.replaced = 0  # samples of a customer already kept: its vector was updated
        self._vectors: dict[str, Vector] = {}
        self._largest: list[tuple[int, str]] = []  # max-heap of (-hash, key) of kept customers

    def __len__(self) -> int:
        return len(self._vectors)

    def put(self, key: str, vector: Vector) -> bool:
        """Keep ``vector`` as ``key``'s latest; False if ``key`` is not in the sample."""
        if key in self._vectors:
            self._vectors[key] = vector
            self.replaced += 1
            return True
        rank = _rank(key)
        if len(self._vectors) >= self.capacity:
            if rank >= -self._largest[0][0]:
                return False
            _, evicted = heapq.heappop(self._largest)
            del self._vectors[evicted]
        heapq.heappush(self._largest, (-rank, key))
        self._vectors[key] = vector
        return True

    def vectors(self) -> list[Vector]:
        """The kept vectors, in the order their customers were first kept."""
        return list(self._vectors.values())


def _rank(key: str) -> int:
    """A uniform 64-bit hash: which customers are kept must not depend on how keys look."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
