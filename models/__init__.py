"""Machine-learned behavioural segments: online clustering of profile feature vectors.

One concern per module: :mod:`models.features` (profile -> vector), :mod:`models.learner` (river
learns online), :mod:`models.trainer` (cold start, publishing, identities, drift),
:mod:`models.snapshot` (the published model), :mod:`models.matching` (stable ids),
:mod:`models.describe` (generated descriptions), :mod:`models.names` (marketers' names),
:mod:`models.assign` (nearest centroid, the hot path), :mod:`models.segments` (what a worker
does per profile) and :mod:`models.evaluation` (quality and stability measurements for tests
and benchmarks).
"""

from models.assign import Assigner
from models.features import DEFAULT_FEATURES, FeatureExtractor, FeatureSpecError
from models.names import CLUSTER_PREFIX, ClusterNamesError, load_names
from models.segments import ClusterMembership, ClusterSegments, Placement
from models.snapshot import Cluster, ClusterSnapshot, Scaler, SnapshotError
from models.trainer import Trainer, TrainerConfig

__all__ = [
    "CLUSTER_PREFIX",
    "DEFAULT_FEATURES",
    "Assigner",
    "Cluster",
    "ClusterMembership",
    "ClusterNamesError",
    "ClusterSegments",
    "ClusterSnapshot",
    "FeatureExtractor",
    "FeatureSpecError",
    "Placement",
    "Scaler",
    "SnapshotError",
    "Trainer",
    "TrainerConfig",
    "load_names",
]
