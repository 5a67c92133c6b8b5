"""Machine-learned behavioural segments: clustering of the customers' current feature vectors.

One concern per module: :mod:`models.features` (profile -> vector), :mod:`models.population`
(the customers' latest vectors), :mod:`models.kmeans` (k-means++ and Lloyd), :mod:`models.learner`
(refitting the population), :mod:`models.trainer` (cold start, publishing, identities, drift),
:mod:`models.snapshot` (the published model), :mod:`models.matching` (stable ids),
:mod:`models.describe` (generated descriptions), :mod:`models.names` (marketers' names),
:mod:`models.assign` (nearest centroid, the hot path), :mod:`models.segments` (what a worker
does per profile) and :mod:`models.evaluation` (quality and stability measurements for tests
and benchmarks).

The trainer (and with it numpy's k-means) is not imported here: workers and the CLI never need it.
"""

from models.assign import Assigner
from models.features import DEFAULT_FEATURES, FeatureExtractor, FeatureSpecError
from models.names import CLUSTER_PREFIX, ClusterNamesError, load_names
from models.segments import ClusterMembership, ClusterSegments, Placement
from models.snapshot import Cluster, ClusterSnapshot, Scaler, SnapshotError

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
    "load_names",
]
