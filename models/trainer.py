"""The trainer's logic without Kafka: learn samples, decide when to publish, build snapshots.

One trainer learns for all workers (``segstream trainer`` wraps this class in a Kafka loop). It
publishes nothing until ``min_samples`` vectors have arrived (cold start), then a snapshot every
``publish_every`` samples. Each snapshot carries what a restarted trainer needs to go on where it
left off: river's scaler statistics, the centres with their win counts, and the samples-topic
offsets it had read. Clusters keep their ids across snapshots (:mod:`models.matching`), get a
generated description (:mod:`models.describe`) and the marketer's name if the names file has one.

>>> import random
>>> rng = random.Random(3)
>>> trainer = Trainer(TrainerConfig(features=("x",), k=2, min_samples=100, publish_every=50))
>>> for n in range(100):
...     trainer.learn((rng.gauss(0, 0.3) + (n % 2) * 4,), key=f"s{n}", partition=0, offset=n)
>>> trainer.due()
True
>>> snap = trainer.publish(now=0.0)
>>> snap.version, [c.id for c in snap.clusters], snap.source_offsets
(1, ['c1', 'c2'], {0: 100})
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from models.describe import describe
from models.learner import RATE_FLOOR, OnlineClusterer, Vector
from models.matching import match_centroids
from models.names import segment_id_for
from models.snapshot import Cluster, ClusterSnapshot, Scaler

log = logging.getLogger(__name__)

SEEN_KEYS = 200_000  # sessions remembered for de-duplication (about 5 MB)


class RecentKeys:
    """A bounded set that forgets its oldest keys: the sessions already learnt from.

    >>> keys = RecentKeys(2)
    >>> keys.add("a"), keys.add("a"), keys.add("b"), keys.add("c"), keys.add("a")
    (True, False, True, True, True)
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._keys: dict[str, None] = {}  # insertion-ordered: the oldest first

    def add(self, key: str) -> bool:
        """True if ``key`` is new (and now remembered)."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self.capacity:
            del self._keys[next(iter(self._keys))]
        return True


@dataclass(frozen=True, slots=True)
class TrainerConfig:
    features: tuple[str, ...]
    k: int = 9
    min_samples: int = 2000  # cold start: publish nothing before this many samples
    publish_every: int = 1000  # samples between snapshots
    reservoir_size: int = 2000  # recent samples kept for seeding and reseed checks
    rate_floor: float = RATE_FLOOR  # smallest step a centre takes towards a new point
    max_match_distance: float = 2.0  # std units; farther than this is a new cluster
    seed: int = 7


class Trainer:
    def __init__(self, config: TrainerConfig, previous: ClusterSnapshot | None = None) -> None:
        self.config = config
        self.learner = OnlineClusterer(
            k=config.k,
            dims=len(config.features),
            reservoir_size=config.reservoir_size,
            rate_floor=config.rate_floor,
            seed=config.seed,
        )
        self.previous = previous
        self.offsets: dict[int, int] = {}
        self.since_publish = 0
        self.duplicates = 0  # samples of a session already learnt
        self._seen = RecentKeys(SEEN_KEYS)
        if previous is not None and previous.features == config.features:
            self._resume(previous)
        elif previous is not None:
            log.warning(
                "cluster features changed since %s: learning a new model from scratch",
                previous.label,
            )

    def _resume(self, snapshot: ClusterSnapshot) -> None:
        scaler = snapshot.scaler
        self.learner.restore(
            (scaler.count, scaler.mean, scaler.var),
            [c.centroid for c in snapshot.clusters],
            [c.total for c in snapshot.clusters],
        )
        self.offsets = dict(snapshot.source_offsets)

    def learn(
        self, vector: Vector, *, key: str | None = None, partition: int = 0, offset: int = -1
    ) -> None:
        """Learn ``vector`` unless a sample of the same session ``key`` was learnt recently."""
        if offset >= 0:
            self.offsets[partition] = offset + 1
        if key is not None and not self._seen.add(key):
            self.duplicates += 1
            return
        self.learner.learn(vector)
        self.since_publish += 1

    def due(self) -> bool:
        if not self.learner.seeded:
            return self.learner.learned >= self.config.min_samples
        return self.since_publish >= self.config.publish_every

    def publish(self, now: float, names: Mapping[str, str] | None = None) -> ClusterSnapshot:
        """The next snapshot (call when ``due()``); it becomes the predecessor of the next one."""
        reseeded = False
        if not self.learner.seeded:
            self.learner.seed()
        else:
            reseeded = self.learner.maybe_reseed()
        count, means, variances = self.learner.scaler_state()
        scaler = Scaler(count, means, variances)
        centroids = self.learner.centroids()
        ids, shifts, next_id = self._identities(scaler, centroids)
        sizes = self.learner.take_recent()
        names = names or {}
        clusters = tuple(
            Cluster(
                id=ids[i],
                segment_id=segment_id_for(ids[i], names.get(ids[i])),
                name=names.get(ids[i]),
                centroid=tuple(round(v, 6) for v in centroids[i]),
                size=sizes[i],
                total=self.learner.counts[i],
                shift=shifts[i],
                description=describe(self.config.features, centroids[i]),
            )
            for i in range(len(centroids))
        )
        snapshot = ClusterSnapshot(
            version=self.previous.version + 1 if self.previous else 1,
            created_at=now,
            features=self.config.features,
            scaler=scaler,
            clusters=clusters,
            samples_learned=self.learner.learned,
            source_offsets=dict(self.offsets),
            next_id=next_id,
            reseeded=reseeded,
        )
        self.previous, self.since_publish = snapshot, 0
        return snapshot

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
