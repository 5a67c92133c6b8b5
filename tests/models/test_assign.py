"""Nearest-centroid assignment on a snapshot agrees with a brute-force computation."""

from __future__ import annotations

import math

import pytest
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
    # The mean is folded into the centroids (models.assign): equal to rounding, so a near-tie
    # (within rounding) may go either way; an exact tie of equal centroids goes to the first.
    assert distance == pytest.approx(min(brute), rel=1e-12, abs=1e-8)
    assert brute[snap.clusters.index(cluster)] == pytest.approx(min(brute), rel=1e-12, abs=1e-8)
    first_equal = next(c for c in snap.clusters if c.centroid == cluster.centroid)
    assert cluster is first_equal


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_a_mean_far_in_standard_deviations_is_assigned_exactly(data: st.DataObject) -> None:
    dims = data.draw(st.integers(1, 4))
    vector = st.tuples(*[finite] * dims)
    centroids = data.draw(st.lists(vector, min_size=1, max_size=5))
    mean = tuple(1e5 + m for m in data.draw(vector))
    snap = make(centroids, mean, (1e-6,) * dims)  # m * s about 1e8: beyond FOLD_LIMIT
    x = tuple(m + d * 1e-3 for m, d in zip(mean, data.draw(vector), strict=True))
    cluster, distance = Assigner(snap).nearest(x)
    brute = [math.dist(snap.scaler.scale(x), c) for c in centroids]
    assert distance == min(brute)
    assert cluster is snap.clusters[brute.index(min(brute))]


def test_distances_name_every_cluster() -> None:
    snap = make([(0.0,), (3.0,)], (0.0,), (1.0,))
    assert Assigner(snap).distances((1.0,)) == {"c1": 1.0, "c2": 2.0}
