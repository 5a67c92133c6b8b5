"""The cluster topics, created on start by workers and the trainer alike."""

from __future__ import annotations

from kafka.admin import NewTopic

from streams.dependencies import create_topics, kafka_admin, topic_configs
from streams.settings import Settings
from streams.topics import cluster_models_topic, cluster_samples_topic, trainer_election_topic

SAMPLES_RETENTION_MS = 24 * 3600 * 1000  # samples are disposable once learnt


def ensure_cluster_topics(settings: Settings) -> None:
    """One partition each: one trainer reads every sample, every worker reads every model, and the
    trainers elect their leader by which of them is assigned the election topic's partition."""
    wanted = {
        cluster_samples_topic(settings): topic_configs(
            settings, **{"retention.ms": str(SAMPLES_RETENTION_MS)}
        ),
        # Compaction keeps the latest snapshot for ever; older versions are history.
        cluster_models_topic(settings): topic_configs(settings, **{"cleanup.policy": "compact"}),
        trainer_election_topic(settings): topic_configs(settings),  # never written: a token
    }
    admin = kafka_admin(settings)
    try:
        existing = set(admin.list_topics())
        topics = [
            NewTopic(name, 1, settings.topic_replication, topic_configs=configs)
            for name, configs in wanted.items()
            if name not in existing
        ]
        create_topics(admin, settings, topics)
    finally:
        admin.close()
