"""Assigning a feature vector to its nearest cluster of a snapshot: pure, allocation-light, fast.

Workers assign every touched profile, so this runs in the hot path. It is plain Python over the
snapshot's numbers (scale, then ``math.dist`` to each centroid, which is implemented in C): about
5 µs for 15 features and 9 clusters on the 2-core development machine (``bench/clusters.py``
measures it as ``cluster_assign_us``), against 100-130 µs for river's ``KMeans.learn_predict_one``
and 10-14 µs for ``STREAMKMeans.predict_one``. Learning happens once, in the trainer.

>>> from models.snapshot import Cluster, ClusterSnapshot, Scaler
>>> snap = ClusterSnapshot(1, 0.0, ("x", "y"), Scaler(2, (0.0, 0.0), (1.0, 1.0)), (
...     Cluster("c1", "cluster_c1", None, (-1.0, 0.0), 1, 1, None, "low x"),
...     Cluster("c2", "cluster_c2", None, (1.0, 0.0), 1, 1, None, "high x"),
... ))
>>> assigner = Assigner(snap)
>>> assigner.nearest((0.8, 0.1))[0].id
'c2'
>>> assigner.distances((0.8, 0.1))
{'c1': 1.8028, 'c2': 0.2236}
"""

from __future__ import annotations

from itertools import repeat
from math import dist
from operator import mul, sub

from models.snapshot import Cluster, ClusterSnapshot


class Assigner:
    """A snapshot prepared for assignment; build once per snapshot, call for every profile."""

    __slots__ = ("_centroids", "_clusters", "_inverse_std", "_mean", "snapshot")

    def __init__(self, snapshot: ClusterSnapshot) -> None:
        self.snapshot = snapshot
        self._mean = snapshot.scaler.mean
        self._inverse_std = snapshot.scaler.inverse_std
        self._clusters = snapshot.clusters
        self._centroids = tuple(cluster.centroid for cluster in snapshot.clusters)

    def scaled(self, vector: tuple[float, ...]) -> list[float]:
        return [(x - m) * s for x, m, s in zip(vector, self._mean, self._inverse_std, strict=True)]

    def nearest(self, vector: tuple[float, ...]) -> tuple[Cluster, float]:
        """The nearest cluster and its Euclidean distance in scaled units (ties: the first)."""
        if len(vector) != len(self._mean):
            raise ValueError(f"a vector of {len(vector)} features for a model of {len(self._mean)}")
        # The same arithmetic as scaled() and a loop, with the loops in C (map, math.dist): a few
        # percent less per call (cluster_assign_us).
        z = list(map(mul, map(sub, vector, self._mean), self._inverse_std))
        distances = list(map(dist, repeat(z, len(self._centroids)), self._centroids))
        best_distance = min(distances)
        return self._clusters[distances.index(best_distance)], best_distance

    def distances(self, vector: tuple[float, ...]) -> dict[str, float]:
        """Distance to every cluster, for ``segstream explain``."""
        z = self.scaled(vector)
        return {c.id: round(dist(z, c.centroid), 4) for c in self._clusters}
