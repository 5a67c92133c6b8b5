"""Clusters on Kafka: workers sample vectors to the trainer, the trainer publishes model snapshots,
every worker follows the latest one. The model logic itself lives in :mod:`models`."""
