"""The ``clusters`` part of a worker's ``/segstream/stats``: model in use, drift, assignments.

Plain JSON numbers so they can be turned into metrics: per cluster its customers in the trainer's
population (``size``), centroid ``shift`` since the previous snapshot, and how many customers this
worker has assigned under each model version.
"""

from __future__ import annotations

from typing import Any

from models.segments import ClusterSegments
from streams.clusters.watcher import ModelWatcher


def cluster_stats(watcher: ModelWatcher, segments: ClusterSegments | None) -> dict[str, Any]:
    if segments is None:
        return {"enabled": False}
    snapshot = watcher.current
    stats = segments.stats
    out: dict[str, Any] = {
        "enabled": True,
        "model_version": snapshot.label if snapshot else None,
        "assigned": dict(stats.assigned),
        "sampled": stats.sampled,
        "too_little_activity": stats.too_young,
        "models_received": watcher.received,
        "models_rejected": watcher.rejected,
    }
    if snapshot is not None:
        out |= {
            "created_at": snapshot.created_at,
            "samples_learned": snapshot.samples_learned,
            "max_shift": snapshot.max_shift,
            "reseeded": snapshot.reseeded,
            "clusters": [
                {
                    "id": c.id,
                    "segment_id": c.segment_id,
                    "description": c.description,
                    "size": c.size,
                    "total": c.total,
                    "shift": c.shift,
                }
                for c in snapshot.clusters
            ],
        }
    return out
