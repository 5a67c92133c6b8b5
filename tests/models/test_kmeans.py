"""Batch k-means: k-means++ spreads its seeds, Lloyd converges, restarts keep the best fit."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.cluster import KMeans

from models.kmeans import best_of, kmeans_plus_plus, lloyd
from tests.models.blobs import CENTRES, blobs


def nearest_blob(point: tuple[float, ...]) -> int:
    return min(
        range(len(CENTRES)),
        key=lambda i: sum((a - b) ** 2 for a, b in zip(point, CENTRES[i], strict=True)),
    )


def test_kmeans_plus_plus_spreads_its_seeds() -> None:
    points, _ = blobs(200)
    seeds = kmeans_plus_plus(np.asarray(points), 4, random.Random(0))
    assert {nearest_blob(tuple(seed)) for seed in seeds} == {0, 1, 2, 3}


def test_lloyd_moves_centres_to_the_means_of_their_points() -> None:
    fit = lloyd([(0.0,), (2.0,), (10.0,), (12.0,)], [(1.0,), (5.0,)])
    assert fit.centres == [(1.0,), (11.0,)]
    assert (fit.labels, fit.inertia, fit.sizes) == ([0, 0, 1, 1], 4.0, [2, 2])


def test_an_empty_centre_takes_the_worst_served_point() -> None:
    fit = lloyd([(0.0,), (1.0,), (20.0,)], [(0.5,), (100.0,)])
    assert sorted(fit.centres) == [(0.5,), (20.0,)]


def test_the_best_of_restarts_is_as_good_as_scikit_learn() -> None:
    rng = random.Random(4)
    points = [tuple(rng.gauss(0, 1) for _ in range(3)) for _ in range(600)]  # no real clusters
    ours = best_of(points, k=5, restarts=10, rng=random.Random(1))
    theirs = KMeans(n_clusters=5, n_init=10, random_state=0).fit(points)
    assert ours.inertia <= theirs.inertia_ * 1.01
    assert sorted(
        nearest_blob(c)
        for c in best_of(blobs(400)[0], k=4, restarts=3, rng=random.Random(2)).centres
    ) == [0, 1, 2, 3]


def test_too_few_points_are_refused() -> None:
    with pytest.raises(ValueError, match="3 points cannot seed 4 clusters"):
        kmeans_plus_plus(np.zeros((3, 2)), 4, random.Random(0))
