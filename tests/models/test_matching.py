"""Matching keeps identities through permutations and small moves, and spots new clusters."""

from __future__ import annotations

import random

from models.matching import match_centroids


def test_a_permuted_and_jittered_set_maps_back_to_its_predecessors() -> None:
    rng = random.Random(1)
    previous = [tuple(rng.uniform(-5, 5) for _ in range(4)) for _ in range(9)]
    order = list(range(9))
    rng.shuffle(order)
    current = [tuple(x + rng.gauss(0, 0.05) for x in previous[i]) for i in order]
    assert match_centroids(previous, current, max_distance=1.0) == order


def test_far_centroids_are_new_and_counts_may_differ() -> None:
    previous = [(0.0, 0.0), (10.0, 0.0)]
    assert match_centroids(previous, [(10.2, 0.0), (50.0, 50.0), (0.1, 0.0)], max_distance=2.0) == [
        1,
        None,
        0,
    ]
    assert match_centroids(previous, [(0.0, 0.3)], max_distance=2.0) == [0]
    assert match_centroids([], [(0.0, 0.0)], max_distance=2.0) == [None]


def test_the_globally_cheapest_pairing_wins_over_greedy() -> None:
    # Greedy would give the first new centroid its nearest (old 0) and force old 1 onto the second.
    previous = [(0.0,), (2.0,)]
    current = [(0.9,), (-0.5,)]
    assert match_centroids(previous, current, max_distance=5.0) == [1, 0]
