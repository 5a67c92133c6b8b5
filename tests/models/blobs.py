"""Well-separated Gaussian blobs: data whose right answer is obvious."""

from __future__ import annotations

import random

CENTRES = [(0.0, 0.0, 0.0), (10.0, 0.0, 5.0), (0.0, 10.0, -5.0), (10.0, 10.0, 10.0)]


def blobs(
    count: int, seed: int = 1, spread: float = 0.5
) -> tuple[list[tuple[float, ...]], list[int]]:
    """``count`` points cycling through the blobs, shuffled, with their blob index."""
    rng = random.Random(seed)
    labels = [n % len(CENTRES) for n in range(count)]
    rng.shuffle(labels)
    points = [tuple(c + rng.gauss(0, spread) for c in CENTRES[label]) for label in labels]
    return points, labels


def pure(assigned: list[str], labels: list[int]) -> bool:
    """Every blob in exactly one cluster and every cluster one blob."""
    pairs = set(zip(assigned, labels, strict=True))
    return len(pairs) == len(set(assigned)) == len(set(labels))
