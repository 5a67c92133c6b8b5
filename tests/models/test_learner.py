"""The trainer's model: k-means of the customers' latest vectors, warm-started between snapshots."""

from __future__ import annotations

import random

from models.learner import PopulationClusterer, population_scaler
from tests.models.blobs import CENTRES, blobs


def learner(points: list[tuple[float, ...]], capacity: int = 1000) -> PopulationClusterer:
    model = PopulationClusterer(k=len(CENTRES), capacity=capacity, seed=3)
    for n, point in enumerate(points):
        model.learn(f"customer{n}", point)
    return model


def unscaled(model: PopulationClusterer) -> list[tuple[float, ...]]:
    return [tuple(round(x) for x in model.scaler.unscale(c)) for c in model.centres]


def test_the_first_fit_finds_every_blob() -> None:
    model = learner(blobs(400)[0])
    assert not model.seeded
    assert model.fit(version=1) is False
    assert sorted(unscaled(model)) == sorted(CENTRES)
    assert sorted(model.sizes) == [100, 100, 100, 100]


def test_customers_count_once_with_their_latest_vector() -> None:
    """The stream over-represents a customer sampled often, and shows it young; the fit must not.

    "busy" is sampled 300 times while its vector grows from 0 to 29.9; 40 others once each, at 0
    or at 30. Learning the stream would put a centre among busy's young samples; the population
    holds one vector per customer, busy's latest (29.9), so the centres are the two groups'.
    """
    model = PopulationClusterer(k=2, capacity=100, seed=1)
    for n in range(300):
        model.learn("busy", (n / 10,))
    for n in range(40):
        model.learn(f"c{n}", (0.0 if n % 2 else 30.0,))
    model.fit(version=1)
    assert sorted(round(model.scaler.unscale(c)[0], 3) for c in model.centres) == [0.0, 29.995]
    assert sorted(model.sizes) == [20, 21]


def test_the_scaler_is_the_population_s_not_the_stream_s() -> None:
    model = PopulationClusterer(k=1, capacity=10, seed=1)
    for value in (1.0, 100.0, 100.0, 100.0, 3.0):
        model.learn("same customer", (value,))
    model.learn("other", (5.0,))
    model.fit(version=1)
    assert (model.scaler.count, model.scaler.mean, model.scaler.var) == (2, (4.0,), (1.0,))
    assert population_scaler([(1.0, 2.0), (3.0, 2.0)]).var == (1.0, 0.0)


def test_a_poor_partition_is_replaced_and_a_good_one_kept() -> None:
    points, _ = blobs(400)
    model = learner(points)
    model.fit(version=1)
    assert model.fit(version=2) is False  # nothing better to find
    # Two centres on one blob, so one centre has to straddle two others.
    model.centres[1] = tuple(x + 0.01 for x in model.centres[0])
    assert model.fit(version=3) is True
    assert sorted(unscaled(model)) == sorted(CENTRES)


def test_an_unchanged_population_gets_the_same_centres_again() -> None:
    rng = random.Random(5)
    points = [tuple(rng.gauss(0, 1) for _ in range(3)) for _ in range(500)]  # no real clusters
    model = learner(points)
    model.fit(version=1)
    first = list(model.centres)
    for version in range(2, 6):
        assert model.fit(version=version) is False
        assert max(abs(a - b) for c, d in zip(first, model.centres, strict=True)
                   for a, b in zip(c, d, strict=True)) < 1e-9  # fmt: skip


def test_a_restored_model_fits_like_the_one_it_was_restored_from() -> None:
    points, _ = blobs(400)
    model = learner(points)
    model.fit(version=1)
    copy = learner(points)
    copy.restore(model.scaler, [tuple(round(x, 6) for x in c) for c in model.centres])
    model.fit(version=2)
    copy.fit(version=2)
    assert copy.centres == model.centres
    assert copy.scaler == model.scaler
