"""The online learner: k-means++ seeding, MacQueen steps, reseeding out of a poor partition."""

from __future__ import annotations

import random

from models.learner import OnlineClusterer, kmeans_plus_plus
from tests.models.blobs import CENTRES, blobs


def learner(points: list[tuple[float, ...]]) -> OnlineClusterer:
    model = OnlineClusterer(k=len(CENTRES), dims=3, reservoir_size=400, seed=3)
    for point in points:
        model.learn(point)
    return model


def unscaled(model: OnlineClusterer) -> list[tuple[float, ...]]:
    _count, means, variances = model.scaler_state()
    return [
        tuple(round(m + z * v**0.5) for z, m, v in zip(c, means, variances, strict=True))
        for c in model.centroids()
    ]


def test_seeding_finds_every_blob() -> None:
    points, _ = blobs(400)
    model = learner(points)
    assert not model.seeded
    model.seed()
    assert sorted(unscaled(model)) == sorted(CENTRES)


def test_kmeans_plus_plus_spreads_its_seeds() -> None:
    points, _ = blobs(200)
    seeds = kmeans_plus_plus(points, 4, random.Random(0))
    nearest_blob = {
        min(range(4), key=lambda i: sum((a - b) ** 2 for a, b in zip(s, CENTRES[i], strict=True)))
        for s in seeds
    }
    assert nearest_blob == {0, 1, 2, 3}


def test_a_poor_partition_is_replaced_and_a_good_one_kept() -> None:
    points, _ = blobs(800)
    model = learner(points[:400])
    model.seed()
    assert model.maybe_reseed() is False  # nothing better to find
    kmeans = model.kmeans
    assert kmeans is not None
    # Two centres on one blob, so one centre has to straddle two others.
    kmeans.centers[1].update(kmeans.centers[0])
    kmeans.centers[1][0] += 0.01
    for point in points[400:]:
        model.learn(point)
    assert model.maybe_reseed() is True
    assert sorted(unscaled(model)) == sorted(CENTRES)


def test_learning_rate_decays_towards_the_running_mean() -> None:
    model = OnlineClusterer(k=1, dims=1, reservoir_size=10, rate_floor=1e-9, seed=0)
    for x in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0):
        model.learn((x,))
    model.seed()
    for x in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0):
        model.learn((x,))
    # One cluster with 1/n steps is the running mean of everything it won: the scaled mean, 0.
    assert abs(model.centroids()[0][0]) < 0.1


def test_restore_resumes_the_same_state() -> None:
    points, _ = blobs(400)
    model = learner(points)
    model.seed()
    copy = OnlineClusterer(k=4, dims=3, reservoir_size=400, seed=3)
    copy.restore(model.scaler_state(), model.centroids(), model.counts)
    assert copy.scaler_state() == model.scaler_state()
    assert copy.centroids() == model.centroids()
    for point in points[:50]:
        model.learn(point)
        copy.learn(point)
    assert copy.centroids() == model.centroids()
