"""Versioned, immutable cluster model snapshots: what the trainer publishes and workers assign with.

A snapshot is plain data and round-trips through JSON, so it travels through a compacted Kafka
topic, survives trainer restarts (it carries everything the learner needs to resume) and can be
read by anything that speaks JSON.

>>> snap = ClusterSnapshot(
...     version=3, created_at=0.0, features=("log:avg_order_value",),
...     scaler=Scaler(count=10, mean=(1.0,), var=(4.0,)),
...     clusters=(Cluster("c1", "cluster_c1", None, (0.5,), 7, 7, 0.0, "big baskets"),),
... )
>>> ClusterSnapshot.from_json(snap.to_json()) == snap
True
>>> snap.label, snap.scaler.scale((3.0,))
('clusters-v3', (1.0,))
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT = 1


class SnapshotError(ValueError):
    """Bytes that are not a cluster snapshot this code understands."""


@dataclass(frozen=True, slots=True)
class Scaler:
    """Running mean and variance of each feature when the snapshot was taken."""

    count: int
    mean: tuple[float, ...]
    var: tuple[float, ...]

    @property
    def inverse_std(self) -> tuple[float, ...]:
        # A feature that never varied scales to 0, as river's StandardScaler does.
        return tuple(1.0 / math.sqrt(v) if v > 0 else 0.0 for v in self.var)

    def scale(self, vector: tuple[float, ...]) -> tuple[float, ...]:
        return tuple(
            (x - m) * s for x, m, s in zip(vector, self.mean, self.inverse_std, strict=True)
        )

    def unscale(self, scaled: tuple[float, ...]) -> tuple[float, ...]:
        return tuple(
            m + z * math.sqrt(v) for z, m, v in zip(scaled, self.mean, self.var, strict=True)
        )


@dataclass(frozen=True, slots=True)
class Cluster:
    id: str  # stable across snapshots: c1, c2, ...
    segment_id: str  # published segment: cluster_<name> when renamed, else cluster_<id>
    name: str | None  # the marketer's name from the cluster names file
    centroid: tuple[float, ...]  # in scaled units: standard deviations from the population mean
    size: int  # customers of the trainer's population nearest to it at this snapshot
    total: int  # its sizes summed over the snapshots since it was born
    shift: float | None  # centroid movement since the previous snapshot (std units); None: new
    description: str


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    version: int
    created_at: float  # epoch seconds
    features: tuple[str, ...]  # the feature specs, in vector order
    scaler: Scaler
    clusters: tuple[Cluster, ...]
    samples_learned: int = 0
    # Next offset to read per samples-topic partition: where a restarted trainer resumes.
    source_offsets: Mapping[int, int] = field(default_factory=dict)
    next_id: int = 1  # ids are never reused, even after a cluster disappears
    reseeded: bool = False  # a fresh k-means fit replaced the one continued from the last snapshot
    # The line of versions: the version this one continues (None: the first), who published it
    # (a trainer's id) and that trainer's election generation when it did (see streams.clusters).
    parent: int | None = None
    trainer: str = ""
    epoch: int = 0

    @property
    def label(self) -> str:
        """The model version as published next to memberships (``MembershipChange``)."""
        return f"clusters-v{self.version}"

    @property
    def max_shift(self) -> float:
        return max((c.shift for c in self.clusters if c.shift is not None), default=0.0)

    def cluster(self, cluster_id: str) -> Cluster | None:
        return next((c for c in self.clusters if c.id == cluster_id), None)

    def to_json(self) -> bytes:
        body = asdict(self)
        body["format"] = FORMAT
        body["source_offsets"] = {str(p): o for p, o in self.source_offsets.items()}
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> ClusterSnapshot:
        try:
            body = json.loads(raw)
            given = body.pop("format")
            if given != FORMAT:
                raise SnapshotError(f"snapshot format {given!r}, expected {FORMAT}")
            return _build(body)
        except SnapshotError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SnapshotError(f"not a cluster snapshot: {exc!r}") from exc


def _build(body: dict[str, Any]) -> ClusterSnapshot:
    features = tuple(str(name) for name in body["features"])
    scaler = Scaler(
        int(body["scaler"]["count"]),
        _floats(body["scaler"]["mean"], len(features)),
        _floats(body["scaler"]["var"], len(features)),
    )
    clusters = tuple(
        Cluster(
            id=str(c["id"]),
            segment_id=str(c["segment_id"]),
            name=None if c["name"] is None else str(c["name"]),
            centroid=_floats(c["centroid"], len(features)),
            size=int(c["size"]),
            total=int(c["total"]),
            shift=None if c["shift"] is None else float(c["shift"]),
            description=str(c["description"]),
        )
        for c in body["clusters"]
    )
    if not clusters:
        raise SnapshotError("a snapshot needs at least one cluster")
    return ClusterSnapshot(
        version=int(body["version"]),
        created_at=float(body["created_at"]),
        features=features,
        scaler=scaler,
        clusters=clusters,
        samples_learned=int(body["samples_learned"]),
        source_offsets={int(p): int(o) for p, o in body["source_offsets"].items()},
        next_id=int(body["next_id"]),
        reseeded=bool(body["reseeded"]),
        # Absent from snapshots published before trainers were elected.
        parent=None if body.get("parent") is None else int(body["parent"]),
        trainer=str(body.get("trainer", "")),
        epoch=int(body.get("epoch", 0)),
    )


def _floats(values: Any, length: int) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if len(out) != length or not all(math.isfinite(v) for v in out):
        raise SnapshotError(f"expected {length} finite numbers, got {values!r}")
    return out
