"""Topic and table names, all derived from settings so several deployments can share a cluster."""

from __future__ import annotations

from kafka.partitioner.default import murmur2

from streams.settings import Settings

PROFILES_TABLE = "profiles"
# In each partition of the profiles table: the offset of the last envelope applied there. Never a
# customer's key (ids have no whitespace); readers of the table or its changelog skip it.
APPLIED_ENVELOPE_KEY = b" applied-envelope"


def changelog_topic(settings: Settings, table: str = PROFILES_TABLE) -> str:
    """The name Faust gives a table's changelog topic."""
    return f"{settings.app_id}-{table}-changelog"


def batches_topic(settings: Settings) -> str:
    """Internal topic of envelopes, co-partitioned with the events topic and the profile table."""
    return f"{settings.app_id}-batches"


def ingest_group(settings: Settings) -> str:
    """Where the rebatchers commit their events-topic offsets; they join no group (the Faust agents'
    group is ``app_id``)."""
    return f"{settings.app_id}-ingest"


def rules_topic(settings: Settings) -> str:
    """Compacted, one partition: every published rules version; workers follow the latest."""
    return f"{settings.app_id}-rules"


def changes_topic(settings: Settings) -> str:
    """Every segment entry and exit, for downstream tools (the change feed on Kafka)."""
    return f"{settings.app_id}-segment-changes"


def cluster_samples_topic(settings: Settings) -> str:
    """Feature vectors sampled by workers for the cluster trainer."""
    return f"{settings.app_id}-cluster-samples"


def cluster_models_topic(settings: Settings) -> str:
    """Compacted topic of cluster model snapshots, published by the trainer, read by workers."""
    return f"{settings.app_id}-cluster-models"


def trainer_client_id(settings: Settings) -> str:
    return f"{settings.app_id}-cluster-trainer"


def trainer_election_topic(settings: Settings) -> str:
    """One partition, never written: the member of ``trainer_group`` assigned it leads."""
    return f"{settings.app_id}-trainer-election"


def trainer_group(settings: Settings) -> str:
    """The consumer group every started trainer joins to elect the one that trains."""
    return f"{settings.app_id}-trainer-election"


def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, in Java, aiokafka and kafka-python)
    picks for ``key`` among ``partitions``.

    >>> key_partition(b"customer-1", 8)
    1
    """
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions
