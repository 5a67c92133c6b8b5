"""The trainer's logic without Kafka: keep the customers' latest vectors, decide when to publish.

One trainer learns for all workers (``segstream trainer`` wraps this class in a Kafka loop). Every
sample is a customer's current vector, keyed by a pseudonym of the customer; it replaces that
customer's previous one in the trainer's population (:mod:`models.learner`). Nothing is published
until ``min_samples`` samples have arrived (cold start), then a snapshot every ``publish_every``
samples, each a fresh k-means fit of the population. A snapshot carries what a restarted trainer
needs to go on where it left off: the centres and scaler (the next fit starts from them) and the
samples-topic offsets it had read. The population itself is not in the snapshot (workers read
every snapshot): a restarted trainer rebuilds it by re-reading the samples topic from its start,
learning nothing twice (samples before the stored offsets only refill the population). Clusters
keep their ids across snapshots (:mod:`models.matching`), get a generated description
(:mod:`models.describe`) and the marketer's name if the names file has one.

>>> import random
>>> rng = random.Random(3)
>>> trainer = Trainer(TrainerConfig(features=("x",), k=2, min_samples=100, publish_every=50))
>>> for n in range(100):
...     trainer.learn((rng.gauss(0, 0.3) + (n % 2) * 4,), key=f"s{n}", partition=0, offset=n)
>>> trainer.due()
True
>>> snap = trainer.publish(now=0.0)
>>> snap.version, [(c.id, c.size) for c in snap.clusters], snap.source_offsets
(1, [('c1', 50), ('c2', 50)], {0: 100})
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from models.describe import describe
from models.learner import PopulationClusterer, Vector
from models.matching import match_centroids
from models.names import segment_id_for
from models.snapshot import Cluster, ClusterSnapshot, Scaler

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrainerConfig:
    features: tuple[str, ...]
    k: int = 9
    min_samples: int = 2000  # cold start: publish nothing before this many samples
    publish_every: int = 1000  # samples between snapshots
    reservoir_size: int = 2000  # customers whose latest vectors are kept and fitted
    max_match_distance: float = 2.0  # std units; farther than this is a new cluster
    seed: int = 7


class Trainer:
    def __init__(self, config: TrainerConfig, previous: ClusterSnapshot | None = None) -> None:
        self.config = config
        self.learner = PopulationClusterer(
            k=config.k, capacity=config.reservoir_size, seed=config.seed
        )
        self.previous = previous
        self.offsets: dict[int, int] = {}
        self.resumed_at: dict[int, int] = {}  # samples before these offsets were learnt already
        self.learned = 0  # samples learnt, over the whole life of the model
        self.since_publish = 0
        self._unkeyed = 0  # samples without a customer key: each its own customer
        if previous is not None and previous.features == config.features:
            self._resume(previous)
        elif previous is not None:
            log.warning(
                "cluster features changed since %s: learning a new model from scratch",
                previous.label,
            )

    def _resume(self, snapshot: ClusterSnapshot) -> None:
        self.learner.restore(snapshot.scaler, [c.centroid for c in snapshot.clusters])
        self.offsets = dict(snapshot.source_offsets)
        self.resumed_at = dict(snapshot.source_offsets)
        self.learned = snapshot.samples_learned

    def learn(
        self, vector: Vector, *, key: str | None = None, partition: int = 0, offset: int = -1
    ) -> None:
        """The latest ``vector`` of customer ``key`` (None: a customer never seen again).

        A sample from before the offsets the model was resumed at only refills the population:
        it was learnt before the restart and counts once.
        """
        if offset >= 0:
            self.offsets[partition] = offset + 1
        self._unkeyed += key is None
        self.learner.learn(key if key is not None else f"unkeyed sample {self._unkeyed}", vector)
        if 0 <= offset < self.resumed_at.get(partition, 0):
            return
        self.learned += 1
        self.since_publish += 1

    def due(self) -> bool:
        if not self.learner.seeded:
            enough = len(self.learner.population) >= self.config.k
            return enough and self.learned >= self.config.min_samples
        return self.since_publish >= self.config.publish_every

    def publish(
        self,
        now: float,
        names: Mapping[str, str] | None = None,
        *,
        trainer: str = "",
        epoch: int = 0,
    ) -> ClusterSnapshot:
        """The next snapshot (call when ``due()``); it becomes the predecessor of the next one.

        ``trainer`` and ``epoch`` name who publishes it and in which election generation.
        """
        parent = self.previous.version if self.previous else None
        version = parent + 1 if parent is not None else 1
        reseeded = self.learner.fit(version)
        scaler, centroids = self.learner.scaler, self.learner.centres
        ids, shifts, next_id = self._identities(scaler, centroids)
        totals = self._totals(ids, self.learner.sizes)
        names = names or {}
        clusters = tuple(
            Cluster(
                id=ids[i],
                segment_id=segment_id_for(ids[i], names.get(ids[i])),
                name=names.get(ids[i]),
                centroid=tuple(round(v, 6) for v in centroids[i]),
                size=self.learner.sizes[i],
                total=totals[i],
                shift=shifts[i],
                description=describe(self.config.features, centroids[i]),
            )
            for i in range(len(centroids))
        )
        snapshot = ClusterSnapshot(
            version=version,
            created_at=now,
            features=self.config.features,
            scaler=scaler,
            clusters=clusters,
            samples_learned=self.learned,
            source_offsets=dict(self.offsets),
            next_id=next_id,
            reseeded=reseeded,
            parent=parent,
            trainer=trainer,
            epoch=epoch,
        )
        self.previous, self.since_publish = snapshot, 0
        return snapshot

    def _totals(self, ids: list[str], sizes: list[int]) -> list[int]:
        """Customers per cluster summed over the snapshots of its life (a cluster's weight)."""
        before = {c.id: c.total for c in self.previous.clusters} if self.previous else {}
        return [
            before.get(cluster_id, 0) + size for cluster_id, size in zip(ids, sizes, strict=True)
        ]

    def _identities(
        self, scaler: Scaler, centroids: list[Vector]
    ) -> tuple[list[str], list[float | None], int]:
        """Stable ids (matched to the previous snapshot), shifts, and the next unused id number."""
        previous = self.previous
        next_id = previous.next_id if previous else 1
        matched: list[int | None] = [None] * len(centroids)
        before: list[Vector] = []
        if previous is not None and previous.features == self.config.features:
            # The scaler moved too: compare both generations in today's scaled units.
            before = [scaler.scale(previous.scaler.unscale(c.centroid)) for c in previous.clusters]
            matched = match_centroids(
                before, centroids, max_distance=self.config.max_match_distance
            )
        ids: list[str] = []
        shifts: list[float | None] = []
        for index, match in enumerate(matched):
            if match is None or previous is None:
                ids.append(f"c{next_id}")
                next_id += 1
                shifts.append(None)
            else:
                ids.append(previous.clusters[match].id)
                shifts.append(round(_distance(before[match], centroids[index]), 6))
        return ids, shifts, next_id


def _distance(a: Vector, b: Vector) -> float:
    return float(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5)
