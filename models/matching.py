"""Stable cluster identities: each new centroid continues the previous cluster it is closest to.

The learner's cluster order is an implementation detail (a fresh fit of the population, a restart
or a different seed may permute it). So every snapshot is matched to the previous one by a
minimum-cost one-to-one assignment on centroid distance (the Hungarian method, scipy's
``linear_sum_assignment``): a customer never changes segment because clusters were relabelled,
only when its nearest centroid really changes. A centroid farther than ``max_distance`` from every
unmatched predecessor is a new cluster and gets a fresh id; a predecessor left without a successor
is retired with its id.

>>> previous = [(0.0, 0.0), (5.0, 5.0)]
>>> match_centroids(previous, [(5.1, 4.9), (0.2, 0.0), (20.0, 20.0)], max_distance=3.0)
[1, 0, None]
"""

from __future__ import annotations

from collections.abc import Sequence
from math import dist

from scipy.optimize import linear_sum_assignment

Centroid = Sequence[float]


def match_centroids(
    previous: Sequence[Centroid], current: Sequence[Centroid], *, max_distance: float
) -> list[int | None]:
    """For each current centroid, the index of the previous one it continues, or None if new."""
    matched: list[int | None] = [None] * len(current)
    if not previous or not current:
        return matched
    cost = [[dist(now, before) for before in previous] for now in current]
    rows, columns = linear_sum_assignment(cost)
    for row, column in zip(rows, columns, strict=True):
        if cost[row][column] <= max_distance:
            matched[int(row)] = int(column)
    return matched
