"""Choosing k with evidence: offline k-means and the online model, side by side, for every k.

For each k of a range, on the final vectors of a replayed history (standardized as offline
k-means sees them, :func:`models.evaluation.standardize`):

* **offline**: the best of ``RESTARTS`` k-means++ seedings (:func:`models.kmeans.best_of`), what an
  analyst gets from a table of current profiles;
* **online**: the model the trainer publishes after learning the same history's samples
  (:func:`models.evaluation.train`), its partition of the same final vectors;

each with its inertia (within-cluster sum of squares around the partition's own means), mean
silhouette, cluster sizes and descriptions. The online model's SSE ratio (its inertia over
offline's) says how close it comes to an analyst's k-means: above ``POOR_SSE_RATIO`` it is poor.

Silhouette compares every point with every other, O(n²): it is computed on a seeded uniform sample
of ``SILHOUETTE_SAMPLE`` customers (the same sample for every k and both models), as scikit-learn's
``silhouette_score(sample_size=...)`` does.

**Suggested k**: the highest offline silhouette (clusters well apart and tight), any k within
``TIE`` of it counting as a tie, won by the smaller k (fewer segments to name and act on). The
suggestion warns when the online model's SSE ratio at that k is poor.

>>> row = lambda k, s, r: KRow(k, Partition([1] * k, 1.0, s, []), None, r)
>>> pick = suggest([row(3, 0.40, 1.0), row(4, 0.405, 1.0), row(5, 0.30, 1.2)])
>>> pick.k, pick.warning
(3, None)
>>> suggest([row(3, 0.2, 1.0), row(5, 0.3, 1.2)]).warning
'the online model is poor at k = 5: its within-cluster SSE is 1.20x offline k-means (> 1.05)'
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from models import evaluation
from models.describe import describe
from models.kmeans import best_of
from models.trainer import TrainerConfig

Vector = tuple[float, ...]
PointsLike = Sequence[Sequence[float]] | NDArray[np.float64]
RESTARTS = 10  # offline k-means++ seedings per k, as scikit-learn's n_init
SILHOUETTE_SAMPLE = 2000  # customers the silhouette is computed on
SILHOUETTE_SEED = 0
TIE = 0.01  # silhouettes closer than this are a tie
POOR_SSE_RATIO = 1.05  # the online model's SSE above offline's by more than this is poor
OFFLINE_SEED = 0


@dataclass(frozen=True, slots=True)
class Partition:
    sizes: list[int]  # customers per cluster
    inertia: float  # within-cluster sum of squares, standardized units
    silhouette: float  # mean over the sample
    descriptions: list[str]  # one per cluster, in the order of sizes

    @property
    def smallest(self) -> float:
        """The smallest cluster's share of customers."""
        return min(self.sizes) / (sum(self.sizes) or 1)


@dataclass(frozen=True, slots=True)
class KRow:
    k: int
    offline: Partition
    online: Partition | None  # None: the trainer published nothing on this history
    sse_ratio: float | None  # online inertia / offline inertia


@dataclass(frozen=True, slots=True)
class Suggestion:
    k: int
    rule: str
    warning: str | None


def sample_indices(count: int, size: int, seed: int) -> list[int]:
    """A seeded uniform sample of ``size`` of ``range(count)`` (all of them if fewer), sorted.

    >>> sample_indices(5, 3, seed=0), sample_indices(2, 3, seed=0)
    ([0, 3, 4], [0, 1])
    """
    if count <= size:
        return list(range(count))
    return sorted(random.Random(seed).sample(range(count), size))


def silhouette(points: PointsLike, labels: Sequence[int]) -> float:
    """Mean silhouette of ``points``: (b - a) / max(a, b) per point, a the mean distance to its own
    cluster's other points, b to the nearest other cluster's; 0 for a point alone in its cluster
    and for a single cluster (scikit-learn's conventions).

    >>> silhouette([(0.0,), (0.1,), (5.0,), (5.1,)], [0, 0, 1, 1])
    0.979998
    """
    data = np.asarray(points, dtype=np.float64)
    _, groups = np.unique(np.asarray(labels), return_inverse=True)
    clusters = int(groups.max()) + 1 if len(groups) else 0
    if clusters < 2:
        return 0.0
    distances = np.sqrt(((data[:, None, :] - data[None, :, :]) ** 2).sum(axis=2))
    members = np.eye(clusters)[groups]  # one-hot: point x cluster
    counts = members.sum(axis=0)
    sums = distances @ members  # distance of every point to all points of every cluster
    own = counts[groups] - 1
    index = np.arange(len(groups))
    a = np.divide(sums[index, groups], own, out=np.zeros(len(groups)), where=own > 0)
    means = sums / np.maximum(counts, 1)
    means[index, groups] = np.inf
    b = means.min(axis=1)
    scores = np.where(own > 0, (b - a) / np.maximum(np.maximum(a, b), 1e-300), 0.0)
    return round(float(scores.mean()), 6)


def inertia(points: PointsLike, labels: Sequence[object]) -> float:
    """Within-cluster sum of squares of a partition, each cluster around its own mean.

    >>> inertia([(0.0,), (2.0,), (10.0,)], ["a", "a", "b"])
    2.0
    """
    data = np.asarray(points, dtype=np.float64)
    groups = np.unique(np.asarray([str(label) for label in labels]), return_inverse=True)[1]
    total = 0.0
    for group in range(int(groups.max()) + 1 if len(groups) else 0):
        cluster = data[groups == group]
        total += float(((cluster - cluster.mean(axis=0)) ** 2).sum())
    return total


def suggest(rows: Sequence[KRow]) -> Suggestion:
    """The k with the best offline silhouette, ties (within ``TIE``) to the smaller k."""
    best = max(row.offline.silhouette for row in rows)
    chosen = min((row for row in rows if row.offline.silhouette >= best - TIE), key=lambda r: r.k)
    rule = (
        f"the highest offline silhouette ({best:.3f}); k within {TIE} of it tie, "
        "and the smaller k wins"
    )
    warning = None
    if chosen.sse_ratio is None:
        warning = f"no online model at k = {chosen.k}: too few samples for the trainer's cold start"
    elif chosen.sse_ratio > POOR_SSE_RATIO:
        warning = (
            f"the online model is poor at k = {chosen.k}: its within-cluster SSE is "
            f"{chosen.sse_ratio:.2f}x offline k-means (> {POOR_SSE_RATIO})"
        )
    return Suggestion(chosen.k, rule, warning)


@dataclass(frozen=True, slots=True)
class Evaluation:
    features: tuple[str, ...]
    customers: int
    samples: int
    silhouette_sample: int  # customers the silhouettes were computed on
    rows: list[KRow]
    suggestion: Suggestion


Report = Callable[[str], None]


def evaluate(
    population: evaluation.Population,
    config: TrainerConfig,
    ks: Sequence[int],
    report: Report = lambda line: None,
) -> Evaluation:
    """Every k of ``ks``: offline k-means and the trainer configured as ``config`` (its k
    replaced), on ``population``; ``report`` hears one line per k as it is done."""
    points = np.asarray(evaluation.standardize(population.vectors), dtype=np.float64)
    sample = sample_indices(len(points), SILHOUETTE_SAMPLE, SILHOUETTE_SEED)
    rows = []
    for k in ks:
        row = _row(population, points, sample, dataclasses.replace(config, k=k))
        report(_progress_line(row))
        rows.append(row)
    return Evaluation(
        config.features, len(points), len(population.samples), len(sample), rows, suggest(rows)
    )


def _row(
    population: evaluation.Population, points: NDArray[np.float64], sample: list[int],
    config: TrainerConfig,
) -> KRow:  # fmt: skip
    fit = best_of(points, k=config.k, restarts=RESTARTS, rng=random.Random(OFFLINE_SEED))
    offline = _partition(
        points, sample, fit.labels, [describe(config.features, c) for c in fit.centres]
    )
    snapshots = evaluation.train(config, population.samples)
    if not snapshots:
        return KRow(config.k, offline, None, None)
    clusters = snapshots[-1].clusters
    ids = evaluation.assign_all(snapshots[-1], population.vectors)
    order = {c.segment_id: n for n, c in enumerate(clusters)}
    online = _partition(points, sample, [order[i] for i in ids], [c.description for c in clusters])
    return KRow(config.k, offline, online, round(online.inertia / offline.inertia, 4))


def _partition(
    points: NDArray[np.float64], sample: list[int], labels: Sequence[int], descriptions: list[str]
) -> Partition:
    sizes = [0] * len(descriptions)
    for label in labels:
        sizes[label] += 1
    return Partition(
        sizes=sizes,
        inertia=round(inertia(points, labels), 4),
        silhouette=silhouette(points[sample], [labels[i] for i in sample]),
        descriptions=descriptions,
    )


def _progress_line(row: KRow) -> str:
    online = "no online model" if row.online is None else (
        f"online silhouette {row.online.silhouette:.3f}, SSE ratio {row.sse_ratio:.3f}"
    )  # fmt: skip
    return f"  k = {row.k}: offline silhouette {row.offline.silhouette:.3f}; {online}"


def format_evaluation(result: Evaluation, source: str) -> str:
    """The table and clusters a marketer reads (``segstream clusters evaluate``)."""
    lines = [
        f"{source}: {result.customers:,} customers, {result.samples:,} samples for the trainer; "
        f"features: {', '.join(result.features)}",
        f"silhouette on a seeded sample of {result.silhouette_sample:,} customers "
        f"(seed {SILHOUETTE_SEED}; it is O(n²)); inertia in standardized units",
        "",
        "  k   silhouette        inertia (standardized)   SSE    smallest cluster",
        "      online / offline  online / offline          ratio  online / offline",
    ]
    lines += [_table_line(row) for row in result.rows]
    suggestion = result.suggestion
    lines += ["", f"suggested k = {suggestion.k}: {suggestion.rule}"]
    if suggestion.warning:
        lines.append(f"warning: {suggestion.warning}")
    for row in result.rows:
        lines += ["", f"k = {row.k}"]
        lines += _clusters_lines("offline", row.offline)
        if row.online is not None:
            lines += _clusters_lines("online", row.online)
    return "\n".join(lines)


def _table_line(row: KRow) -> str:
    online, offline = row.online, row.offline
    silhouette = f"{_number(online, 'silhouette', '.3f')} / {offline.silhouette:.3f}"
    inertia = f"{_number(online, 'inertia', '.1f')} / {offline.inertia:.1f}"
    smallest = f"{_number(online, 'smallest', '.1%')} / {offline.smallest:.1%}"
    ratio = "-" if row.sse_ratio is None else f"{row.sse_ratio:.3f}"
    return f"{row.k:>3}   {silhouette:<16}  {inertia:<24} {ratio:>5}  {smallest}"


def _number(partition: Partition | None, figure: str, spec: str) -> str:
    return "-" if partition is None else format(getattr(partition, figure), spec)


def _clusters_lines(label: str, partition: Partition) -> list[str]:
    total = sum(partition.sizes) or 1
    return [f"  {label}:"] + [
        f"    {size:>7,} ({size / total:5.1%})  {description}"
        for size, description in zip(partition.sizes, partition.descriptions, strict=True)
    ]
