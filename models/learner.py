"""The trainer's model: k-means of the current customer population, refitted at every snapshot.

Why not learn the stream of samples online (river's sequential ``KMeans``, used here until issue
19): a customer is sampled when it is touched, so the stream weighs customers by activity and sees
counts that only grow (orders, items) while they are still young. On CDNOW that put the online
boundaries far from those of k-means on the final profiles (ARI 0.34, within-cluster SSE well above
offline k-means' once the order count is a feature). The segments must describe the customers as
they are now, so the model is what an analyst would compute from a table of current profiles:

1. **Population.** The latest vector of every customer in a uniform, bounded sample of customers
   (:class:`models.population.LatestVectors`); a customer's new sample replaces its old vector.
2. **Scaling.** Mean and variance of that population (z-scores, as the offline baseline uses),
   not running statistics of the stream.
3. **Fit.** At every snapshot: the best of ``restarts`` k-means++ seedings refined by Lloyd's
   iterations (:mod:`models.kmeans`), and the previous centres refined the same way (warm start).
   The warm fit is kept unless the fresh one explains the population clearly better (its
   within-cluster sum of squares is more than ``reseed_gain`` lower): on unchanged customers Lloyd
   returns to the same fixed point, so stationary snapshots move (almost) nobody, while a changed
   population gets the partition a fresh analysis would give. Ids survive either way: snapshots
   are matched to their predecessor (:mod:`models.matching`).

>>> import random
>>> rng = random.Random(0)
>>> model = PopulationClusterer(k=2, capacity=200, seed=1)
>>> for n in range(400):
...     kept = model.learn(f"customer{n % 300}", (rng.gauss(0, 1) + rng.choice((-10, 10)),))
>>> len(model.population), model.fit(version=1)
(200, False)
>>> sorted(round(model.scaler.unscale(c)[0]) for c in model.centres)
[-10, 10]
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from models.kmeans import Fit, best_of, lloyd
from models.population import LatestVectors
from models.snapshot import Scaler

Vector = tuple[float, ...]
RESTARTS = 10  # k-means++ seedings per fit, as scikit-learn's n_init
# Measured on CDNOW and on simulated personas: fresh fits of an unchanged population differ from
# the warm one by at most a few tenths of a percent of its within-cluster sum of squares; a
# population that changed (drift) or a warm fit stuck in a poor local optimum gains more.
RESEED_GAIN = 0.01


class PopulationClusterer:
    def __init__(
        self, *, k: int, capacity: int, restarts: int = RESTARTS,
        reseed_gain: float = RESEED_GAIN, seed: int = 7,
    ) -> None:  # fmt: skip
        self.k = k
        self.restarts = restarts
        self.reseed_gain = reseed_gain
        self.seed = seed
        self.population = LatestVectors(capacity)
        self.scaler = Scaler(0, (), ())  # of the population at the last fit
        self.centres: list[Vector] = []  # in the scaler's units; empty until the first fit
        self.sizes: list[int] = []  # customers of the population nearest to each centre

    @property
    def seeded(self) -> bool:
        return bool(self.centres)

    def learn(self, key: str, vector: Vector) -> bool:
        """The customer ``key``'s latest vector; False if it is not in the population's sample."""
        return self.population.put(key, vector)

    def fit(self, version: int) -> bool:
        """Refit on the population; True if a fresh fit replaced the warm-started one."""
        vectors = self.population.vectors()
        if len(vectors) < self.k:
            raise ValueError(f"{len(vectors)} customers cannot make {self.k} clusters")
        scaler = population_scaler(vectors)
        points = [scaler.scale(v) for v in vectors]
        # Seeded by version: a restarted trainer fits exactly as one that never stopped.
        rng = random.Random(self.seed * 1_000_003 + version)
        chosen, reseeded = best_of(points, k=self.k, restarts=self.restarts, rng=rng), False
        if self.seeded:
            warm = lloyd(points, [scaler.scale(self.scaler.unscale(c)) for c in self.centres])
            reseeded = warm.inertia - chosen.inertia > self.reseed_gain * warm.inertia
            chosen = chosen if reseeded else warm
        self._adopt(scaler, chosen)
        return reseeded

    def _adopt(self, scaler: Scaler, fit: Fit) -> None:
        self.scaler, self.centres, self.sizes = scaler, fit.centres, fit.sizes

    def restore(self, scaler: Scaler, centres: Sequence[Vector]) -> None:
        """Resume from a snapshot: the next fit starts from its centres."""
        self.scaler, self.centres = scaler, list(centres)
        self.sizes = [0] * len(self.centres)
        self.k = len(self.centres)


def population_scaler(vectors: Sequence[Vector]) -> Scaler:
    """Mean and (population) variance of every feature: the z-scores offline k-means uses."""
    count = len(vectors)
    columns = list(zip(*vectors, strict=True))
    means = tuple(sum(column) / count for column in columns)
    variances = tuple(
        sum((x - m) ** 2 for x in column) / count for column, m in zip(columns, means, strict=True)
    )
    return Scaler(count, means, variances)
