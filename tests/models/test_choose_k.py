"""Choosing k: silhouette and inertia as scikit-learn computes them, the per-k table, the pick."""

from __future__ import annotations

import random

import pytest
from sklearn.metrics import silhouette_score

from models import evaluation
from models.choose_k import (
    POOR_SSE_RATIO,
    SILHOUETTE_SAMPLE,
    KRow,
    Partition,
    evaluate,
    format_evaluation,
    inertia,
    sample_indices,
    silhouette,
    suggest,
)
from models.trainer import TrainerConfig
from tests.models.blobs import blobs

FEATURES = ("x", "y", "z")


def test_silhouette_is_scikit_learns() -> None:
    points, labels = blobs(300, spread=3.0)
    rng = random.Random(2)
    noisy = [label if rng.random() > 0.2 else rng.randrange(4) for label in labels]
    for partition in (labels, noisy):
        assert silhouette(points, partition) == pytest.approx(
            silhouette_score(points, partition), abs=1e-6
        )


def test_silhouette_of_one_cluster_and_of_lonely_points_is_zero() -> None:
    assert silhouette([(0.0,), (1.0,)], [0, 0]) == 0.0
    # The lonely point scores 0; the pair scores 1 - 0.1/5.05 each.
    assert silhouette([(0.0,), (0.1,), (5.0,)], [0, 0, 1]) == pytest.approx(
        silhouette_score([(0.0,), (0.1,), (5.0,)], [0, 0, 1]), abs=1e-6
    )


def test_inertia_is_the_within_cluster_sum_of_squares() -> None:
    points, labels = blobs(200)
    by_hand = 0.0
    for label in set(labels):
        members = [p for p, lab in zip(points, labels, strict=True) if lab == label]
        centre = [sum(column) / len(members) for column in zip(*members, strict=True)]
        by_hand += sum((x - c) ** 2 for p in members for x, c in zip(p, centre, strict=True))
    assert inertia(points, labels) == pytest.approx(by_hand)


def test_sample_is_seeded_uniform_and_bounded() -> None:
    picked = sample_indices(10_000, SILHOUETTE_SAMPLE, seed=0)
    assert picked == sample_indices(10_000, SILHOUETTE_SAMPLE, seed=0)
    assert len(set(picked)) == SILHOUETTE_SAMPLE
    assert max(picked) < 10_000
    assert picked != sample_indices(10_000, SILHOUETTE_SAMPLE, seed=1)


def _row(k: int, silhouette: float, ratio: float | None) -> KRow:
    offline = Partition([10] * k, 1.0, silhouette, ["d"] * k)
    return KRow(k, offline, None if ratio is None else offline, ratio)


def test_suggestion_is_the_best_offline_silhouette_ties_to_the_smaller_k() -> None:
    assert suggest([_row(3, 0.30, 1.0), _row(4, 0.50, 1.0), _row(5, 0.45, 1.0)]).k == 4
    assert suggest([_row(3, 0.30, 1.0), _row(4, 0.495, 1.0), _row(5, 0.50, 1.0)]).k == 4


def test_suggestion_warns_when_the_online_model_is_poor_or_absent() -> None:
    assert suggest([_row(3, 0.5, POOR_SSE_RATIO)]).warning is None
    assert "1.30x" in (suggest([_row(3, 0.5, 1.3)]).warning or "")
    assert "no online model" in (suggest([_row(3, 0.5, None)]).warning or "")


@pytest.fixture(scope="module")
def blob_population() -> evaluation.Population:
    """Four blobs; every customer sampled twice (a young and its final vector), as workers do."""
    points, _ = blobs(800)
    population = evaluation.Population(
        customers=[f"c{n}" for n in range(len(points))], vectors=list(points)
    )
    young = [(f"c{n}", tuple(x * 0.9 for x in p)) for n, p in enumerate(points)]
    population.samples = young + list(zip(population.customers, points, strict=True))
    return population


def test_evaluate_finds_the_four_blobs_and_the_online_model_matches_offline(
    blob_population: evaluation.Population,
) -> None:
    config = TrainerConfig(FEATURES, k=9, min_samples=400, publish_every=400, reservoir_size=800)
    heard: list[str] = []
    result = evaluate(blob_population, config, range(2, 7), heard.append)
    assert [row.k for row in result.rows] == [2, 3, 4, 5, 6]
    assert len(heard) == 5
    assert heard[2].startswith("  k = 4: offline silhouette")
    assert result.suggestion.k == 4
    assert result.suggestion.warning is None
    four = result.rows[2]
    assert sorted(four.offline.sizes) == [200] * 4
    assert four.online is not None
    assert sorted(four.online.sizes) == [200] * 4
    assert four.sse_ratio == pytest.approx(1.0, abs=1e-3)
    assert len(four.online.descriptions) == 4
    assert result.customers == 800
    assert result.silhouette_sample == 800


def test_evaluate_without_enough_samples_has_no_online_model(
    blob_population: evaluation.Population,
) -> None:
    config = TrainerConfig(FEATURES, k=4, min_samples=10_000, reservoir_size=800)
    result = evaluate(blob_population, config, [3, 4])
    assert [row.online for row in result.rows] == [None, None]
    assert "no online model" in (result.suggestion.warning or "")
    text = format_evaluation(result, "blobs")
    assert "suggested k = 4" in text
    assert "seeded sample of 800 customers" in text
