"""What a worker does with clusters for one touched profile: sample it, assign it, name the segment.

``ClusterSegments`` holds the worker's configuration and a function returning the current snapshot
(swapped by the model watcher). ``for_batch()`` pins one snapshot for a whole batch, so every
customer of a batch is assigned by the same model version.

* A profile with fewer than ``min_sessions`` sessions has too little behaviour to say anything:
  it is neither sampled nor assigned.
* Sampling picks *customers*: a hash of the customer below ``sample_rate``, the same on a replay
  and independent of the model. Every touch of a picked customer sends its current vector keyed
  by that hash (a pseudonym); the trainer keeps only the latest vector per key. So the trainer
  sees each picked customer as it is now, once, however often it visits or clicks: sampling
  sessions weighted customers by visits and showed counts that only grow (orders) while young,
  and clusters drifted away from what k-means finds on the current customer base (issue 19).
* Without a usable model (cold start, or a snapshot of other features) a customer keeps the cluster
  segment it was last published with rather than losing it; with one, the nearest cluster wins.

>>> from models.features import FeatureExtractor
>>> from streams.profile import Profile
>>> from streams.profile.features import FeatureView
>>> segments = ClusterSegments(FeatureExtractor.parse("avg_order_value"), min_sessions=0,
...                            sample_rate=1.0, current=lambda: None)
>>> placement = segments.for_batch().place("c1", FeatureView(Profile("c1"), 0.0),
...                                        {"cluster_c2": 1.0, "vip": 1.0})
>>> placement.segments, placement.membership, placement.sample
(frozenset({'cluster_c2'}), None, ('43f000a36f6d744e', (0.0,)))
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from models.assign import Assigner
from models.features import FeatureExtractor
from models.names import CLUSTER_PREFIX
from models.snapshot import ClusterSnapshot
from rules.timing import TimeDependence, feature_dependence
from streams.profile import Profile
from streams.profile.features import FeatureView

Vector = tuple[float, ...]
Sample = tuple[str, Vector]  # (the customer's pseudonym, its current vector)


@dataclass(frozen=True, slots=True)
class ClusterMembership:
    segment_id: str
    cluster_id: str
    description: str
    distance: float  # to the centroid, in standard deviations
    model_version: str


@dataclass(frozen=True, slots=True)
class Placement:
    segments: frozenset[str]  # the cluster segment to publish (at most one)
    membership: ClusterMembership | None  # set when a model decided it in this batch
    sample: Sample | None  # what to send to the trainer, if this customer is sampled


@dataclass(slots=True)
class ClusterStats:
    assigned: Counter[str] = field(default_factory=Counter)  # model version -> assignments
    sampled: int = 0
    too_young: int = 0
    incompatible_snapshots: int = 0


class ClusterSegments:
    def __init__(
        self,
        extractor: FeatureExtractor,
        *,
        min_sessions: int,
        sample_rate: float,
        current: Callable[[], ClusterSnapshot | None],
    ) -> None:
        self.extractor = extractor
        self.min_sessions = min_sessions
        self.sample_rate = sample_rate
        self.current = current
        self.stats = ClusterStats()
        self._assigner: Assigner | None = None
        self._refused: ClusterSnapshot | None = None  # the last snapshot of other features
        # When the vector moves with the clock alone (its 30-day windows, say): a placed customer
        # is re-placed and re-sampled then, so its cluster describes it now, not at its last event.
        self.timing = feature_dependence(extractor.profile_features)
        self._joined: tuple[TimeDependence, TimeDependence] | None = None  # (rules', union)

    def timing_with(self, rules: TimeDependence, profile: Profile) -> TimeDependence:
        """What moves ``profile``'s membership with the clock: ``rules``, and the vector's own
        dependence once the profile has the sessions to be placed at all."""
        if profile.sessions < self.min_sessions or self.timing.static:
            return rules
        joined = self._joined
        if joined is None or joined[0] is not rules:  # one union per rules version, not per call
            joined = self._joined = (rules, rules | self.timing)
        return joined[1]

    def assigner(self) -> Assigner | None:
        """An assigner for the current snapshot, rebuilt only when the snapshot changes."""
        snapshot = self.current()
        if snapshot is None:
            return None
        cached = self._assigner
        if cached is not None and cached.snapshot is snapshot:
            return cached
        if snapshot.features != self.extractor.names:
            if snapshot is not self._refused:  # count snapshots, not the batches that saw them
                self.stats.incompatible_snapshots += 1
                self._refused = snapshot
            return None
        self._assigner = Assigner(snapshot)
        return self._assigner

    def explain(self, view: FeatureView) -> dict[str, Any]:
        """The customer's cluster as ``segstream explain`` shows it, with the distances."""
        sessions = view["sessions_lifetime"]
        if sessions < self.min_sessions:
            status = f"too little activity ({sessions} of {self.min_sessions} sessions)"
            return {"status": status, "segment_id": None}
        vector = self.extractor.vector(view)
        features = {name: round(x, 4) for name, x in zip(self.extractor.names, vector, strict=True)}
        assigner = self.assigner()
        if assigner is None:
            status = "no model yet" if self.current() is None else "model of other features"
            return {"status": status, "segment_id": None, "features": features}
        cluster, distance = assigner.nearest(vector)
        return {
            "status": "assigned",
            "segment_id": cluster.segment_id,
            "cluster_id": cluster.id,
            "description": cluster.description,
            "distance": round(distance, 4),
            "distances": assigner.distances(vector),
            "model_version": assigner.snapshot.label,
            "features": features,
        }

    def for_batch(self) -> BatchClusters:
        return BatchClusters(self, self.assigner())

    def sample_key(self, subject: str) -> str | None:
        """The customer's sample key if it is sampled (pseudonymous: a hash), else None."""
        digest = hashlib.blake2b(subject.encode(), digest_size=8).digest()
        picked = int.from_bytes(digest, "big") < self.sample_rate * 2**64
        return digest.hex() if picked else None


@dataclass(frozen=True, slots=True)
class BatchClusters:
    owner: ClusterSegments
    assigner: Assigner | None

    def place(self, subject: str, view: FeatureView, published: Mapping[str, float]) -> Placement:
        owner = self.owner
        sessions = view["sessions_lifetime"]
        if sessions < owner.min_sessions:
            owner.stats.too_young += 1
            return Placement(frozenset(), None, None)
        key = owner.sample_key(subject)
        vector = owner.extractor.vector(view) if key or self.assigner else None
        sample = (key, vector) if key and vector is not None else None
        owner.stats.sampled += sample is not None
        if self.assigner is None or vector is None:
            kept = frozenset(sid for sid in published if sid.startswith(CLUSTER_PREFIX))
            return Placement(kept, None, sample)
        cluster, distance = self.assigner.nearest(vector)
        label = self.assigner.snapshot.label
        owner.stats.assigned[label] += 1
        membership = ClusterMembership(
            cluster.segment_id, cluster.id, cluster.description, round(distance, 4), label
        )
        return Placement(frozenset({cluster.segment_id}), membership, sample)
