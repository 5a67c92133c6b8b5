"""Batch k-means on a few thousand points: greedy k-means++ seeding, then Lloyd iterations (numpy).

The trainer refits its whole population of customers at every snapshot (:mod:`models.learner`), so
it needs plain k-means as an analyst runs it, cheap enough to repeat: 2,000 customers, 14 features,
k = 9 and 10 restarts take well under a second. Lloyd's iterations converge to a fixed point, so a
fit warm-started from the previous snapshot's centres on nearly the same customers lands on
nearly the same centres: that is what keeps stationary snapshots from moving customers around.

>>> import random
>>> rng = random.Random(0)
>>> points = [(rng.gauss(0, 0.3) + side, rng.gauss(0, 0.3)) for side in (-5, 5) for _ in range(50)]
>>> fit = best_of(points, k=2, restarts=3, rng=random.Random(1))
>>> sorted(round(c[0]) for c in fit.centres), sorted(fit.sizes)
([-5, 5], [50, 50])
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Points = NDArray[np.float64]
PointsLike = Sequence[Sequence[float]] | Points
MAX_ITERATIONS = 300
TOLERANCE = 1e-9  # squared centre movement, relative to the points' total variance


@dataclass(frozen=True, slots=True)
class Fit:
    centres: list[tuple[float, ...]]
    labels: list[int]  # the nearest centre of every point
    inertia: float  # sum of squared distances of the points to their nearest centre

    @property
    def sizes(self) -> list[int]:
        counts = [0] * len(self.centres)
        for label in self.labels:
            counts[label] += 1
        return counts


def lloyd(points: PointsLike, centres: PointsLike) -> Fit:
    """Lloyd's iterations from ``centres`` until no centre moves (or ``MAX_ITERATIONS``)."""
    data = np.asarray(points, dtype=np.float64)
    current = np.array(centres, dtype=np.float64)
    tolerance = TOLERANCE * max(float(data.var(axis=0).sum()), 1e-12)
    for _ in range(MAX_ITERATIONS):
        moved = _update(data, current, _squared_distances(data, current))
        shift = float(((moved - current) ** 2).sum())
        current = moved
        if shift <= tolerance:
            break
    squared = _squared_distances(data, current)
    labels = squared.argmin(axis=1)
    inertia = float(squared[np.arange(len(data)), labels].sum())
    return Fit([tuple(float(x) for x in c) for c in current], labels.tolist(), inertia)


def best_of(points: PointsLike, *, k: int, restarts: int, rng: random.Random) -> Fit:
    """The lowest-inertia fit of ``restarts`` k-means++ seedings, as scikit-learn's ``n_init``."""
    data = np.asarray(points, dtype=np.float64)
    fits = [lloyd(data, kmeans_plus_plus(data, k, rng)) for _ in range(restarts)]
    return min(fits, key=lambda fit: fit.inertia)


def kmeans_plus_plus(points: Points, k: int, rng: random.Random) -> Points:
    """Greedy k-means++: each centre is the best of ``2 + ln k`` draws weighted by distance²."""
    if len(points) < k:
        raise ValueError(f"{len(points)} points cannot seed {k} clusters")
    tries = 2 + int(math.log(k))
    centres = [points[rng.randrange(len(points))]]
    nearest = ((points - centres[0]) ** 2).sum(axis=1)
    while len(centres) < k:
        best: tuple[float, Points, Points] | None = None
        for _ in range(tries):
            candidate = points[_draw(nearest, rng)]
            updated = np.minimum(nearest, ((points - candidate) ** 2).sum(axis=1))
            total = float(updated.sum())
            if best is None or total < best[0]:
                best = (total, candidate, updated)
        assert best is not None
        centres.append(best[1])
        nearest = best[2]
    return np.array(centres)


def _draw(weights: Points, rng: random.Random) -> int:
    total = float(weights.sum())
    if total <= 0:
        return rng.randrange(len(weights))
    index = int(np.searchsorted(np.cumsum(weights), rng.random() * total, side="right"))
    return min(index, len(weights) - 1)


def _squared_distances(points: Points, centres: Points) -> Points:
    difference = points[:, None, :] - centres[None, :, :]
    return (difference**2).sum(axis=2)  # type: ignore[no-any-return]


def _update(points: Points, centres: Points, squared: Points) -> Points:
    """Every centre moves to the mean of its points; an empty one to the worst-served point."""
    labels = squared.argmin(axis=1)
    moved = centres.copy()
    nearest = squared[np.arange(len(points)), labels]
    for index in range(len(centres)):
        members = points[labels == index]
        if len(members):
            moved[index] = members.mean(axis=0)
        else:
            worst = int(nearest.argmax())
            moved[index], nearest[worst] = points[worst], 0.0
    return moved
