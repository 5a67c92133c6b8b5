"""Nearest-centroid assignment on a snapshot agrees with a brute-force computation."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from models.assign import Assigner
from models.snapshot import Cluster, ClusterSnapshot, Scaler

finite = st.floats(-50, 50, allow_nan=False)


def make(
    centroids: list[tuple[float, ...]], mean: tuple[float, ...], var: tuple[float, ...]
) -> ClusterSnapshot:
    clusters = tuple(
        Cluster(f"c{i + 1}", f"cluster_c{i + 1}", None, c, 0, 0, None, "")
        for i, c in enumerate(centroids)
    )
    return ClusterSnapshot(
        1, 0.0, tuple(f"f{i}" for i in range(len(mean))), Scaler(1, mean, var), clusters
    )


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_nearest_is_the_brute_force_argmin(data: st.DataObject) -> None:
    dims = data.draw(st.integers(1, 6))
    k = data.draw(st.integers(1, 8))
    vector = st.tuples(*[finite] * dims)
    centroids = data.draw(st.lists(vector, min_size=k, max_size=k))
    mean = data.draw(vector)
    var = data.draw(st.tuples(*[st.floats(0, 20)] * dims))
    x = data.draw(vector)
    snap = make(centroids, mean, var)
    cluster, distance = Assigner(snap).nearest(x)
    z = snap.scaler.scale(x)
    brute = [math.dist(z, c) for c in centroids]
    assert distance == min(brute)
    assert cluster is snap.clusters[brute.index(min(brute))]  # ties go to the first


def test_distances_name_every_cluster() -> None:
    snap = make([(0.0,), (3.0,)], (0.0,), (1.0,))
    assert Assigner(snap).distances((1.0,)) == {"c1": 1.0, "c2": 2.0}
