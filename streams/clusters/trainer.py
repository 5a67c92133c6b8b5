"""``segstream trainer``: learn from the samples topic, publish snapshots to the models topic.

Start as many as you like per deployment (``app_id``): they elect one leader through a Kafka
consumer group (:mod:`streams.clusters.election`); the others stand by and the first of them takes
over when the leader stops or dies (within ``SEGSTREAM_KAFKA_SESSION_TIMEOUT_S``). Only the leader
publishes, and it checks with the group coordinator right before every publish.

State lives in Kafka, not on disk: when a trainer starts leading it reads the latest snapshot from
the compacted models topic and restores the centres from it, then reads the samples topic from its
start: samples before the offsets stored in the snapshot refill the population of customers (which
no snapshot carries), later ones are learnt as new, so it goes on from the state the previous
leader published and learns nothing twice. Versions form one line: each snapshot's ``parent`` is
the version it continues, and names its ``trainer`` and election generation (``epoch``). Every
snapshot is logged with its drift: centroid shift and customers of each cluster.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from types import FrameType
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from models.features import FeatureExtractor
from models.names import ClusterNamesError, load_names
from models.snapshot import ClusterSnapshot, SnapshotError
from models.trainer import Trainer, TrainerConfig
from streams.clusters.admin import ensure_cluster_topics
from streams.clusters.election import Election, Role, continues_own_line
from streams.clusters.messages import SamplesMessageError, decode_samples
from streams.kafka_security import kafka_python_options
from streams.settings import Settings
from streams.topics import cluster_models_topic, cluster_samples_topic, trainer_client_id

log = logging.getLogger(__name__)

MODEL_KEY = b"model"
POLL_MS = 1000


def trainer_config(settings: Settings) -> TrainerConfig:
    return TrainerConfig(
        features=settings.cluster_feature_names,
        k=settings.cluster_count,
        min_samples=settings.cluster_min_samples,
        publish_every=settings.cluster_publish_every,
        reservoir_size=settings.cluster_reservoir_size,
        seed=settings.cluster_seed,
    )


def read_latest_snapshot(settings: Settings) -> ClusterSnapshot | None:
    """The newest readable snapshot on the models topic, or None."""
    partition = TopicPartition(cluster_models_topic(settings), 0)
    consumer = KafkaConsumer(
        **kafka_python_options(settings),
        client_id=trainer_client_id(settings),
        enable_auto_commit=False,
        group_id=None,
    )
    latest: ClusterSnapshot | None = None
    try:
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        end = consumer.end_offsets([partition])[partition]
        while end > 0:
            # poll() before position(): kafka-python can block in position() before a first fetch.
            for records in consumer.poll(timeout_ms=POLL_MS).values():
                for record in records:
                    latest = _newer(latest, record.value)
            if consumer.position(partition) >= end:
                break
    finally:
        consumer.close()
    return latest


def _newer(latest: ClusterSnapshot | None, raw: bytes | None) -> ClusterSnapshot | None:
    try:
        snapshot = ClusterSnapshot.from_json(raw or b"")
    except SnapshotError as exc:
        log.warning("skipping an unreadable model snapshot: %s", exc)
        return latest
    return snapshot if latest is None or snapshot.version > latest.version else latest


def trainer_id() -> str:
    """Names this trainer in the snapshots it publishes: host, process and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class TrainerService:
    """The Kafka loop around :class:`models.trainer.Trainer`, run while elected."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.member = trainer_id()
        self.fingerprint = FeatureExtractor.parse(settings.cluster_features).fingerprint
        self.names: dict[str, str] = load_names(settings.cluster_names_file)
        self.rejected = 0
        self.stop_requested = threading.Event()
        self.trainer: Trainer | None = None  # built when this trainer first leads
        self.published: ClusterSnapshot | None = None  # the snapshot self.trainer continues
        self.term = 0  # the election term self.trainer was (re)started for

    def run(self) -> None:
        settings = self.settings
        consumer = KafkaConsumer(
            **kafka_python_options(settings),
            client_id=trainer_client_id(settings),
            enable_auto_commit=False,
            group_id=None,
            auto_offset_reset="earliest",
        )
        producer = KafkaProducer(**kafka_python_options(settings), acks="all", retries=5)
        election = Election(settings, self.member)
        role = Role.JOINING
        try:
            while not self.stop_requested.is_set():
                leading = election.poll(0 if self.term else POLL_MS)
                if election.leadership.role is not role:
                    role = election.leadership.role
                    self._announce(election)
                if not leading:
                    continue
                if election.leadership.term != self.term:
                    self._take_over(consumer, election)
                self.poll_once(consumer, producer, election)
        finally:
            election.close()
            consumer.close()
            producer.close()

    def _announce(self, election: Election) -> None:
        leadership = election.leadership
        if not leadership.leading:
            self.term = 0  # a new term, whenever it comes, starts with a check of the models topic
        if leadership.role is Role.STANDING_BY:
            log.info(
                "trainer ready: standing by as %s (election generation %d); another trainer leads",
                self.member, leadership.epoch,
            )  # fmt: skip

    def _take_over(self, consumer: KafkaConsumer, election: Election) -> None:
        """Start a leading term: keep the state if no other trainer published since, else resume
        from the latest snapshot (the line of versions goes on from it)."""
        latest = read_latest_snapshot(self.settings)
        state = "continuing: no other trainer published since it last led"
        if self.trainer is None or not continues_own_line(latest, self.published):
            self.trainer = Trainer(trainer_config(self.settings), latest)
            self.published = latest
            self._seek(consumer)
            state = self._state()
        self.term = election.leadership.term
        log.info(
            "trainer ready: leading as %s (election generation %d), %s",
            self.member, election.leadership.epoch, state,
        )  # fmt: skip

    def _state(self) -> str:
        if self.published is None:
            return f"no model yet; first one after {self.settings.cluster_min_samples} samples"
        assert self.trainer is not None
        return (
            f"resuming from {self.published.label} at offsets {self.trainer.offsets}, "
            "refilling the population from the samples before them"
        )

    def _seek(self, consumer: KafkaConsumer) -> None:
        # From the start even when resuming: the population is rebuilt from the retained samples.
        partition = TopicPartition(cluster_samples_topic(self.settings), 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)

    def poll_once(
        self, consumer: KafkaConsumer, producer: KafkaProducer, election: Election
    ) -> None:
        for records in consumer.poll(timeout_ms=POLL_MS, max_records=500).values():
            for record in records:
                self.learn_message(record.partition, record.offset, record.value)
        assert self.trainer is not None
        # The check with the coordinator comes last: nothing between it and the send but the fit.
        if self.trainer.due() and election.confirm():
            self.publish(producer, election.leadership.epoch)

    def learn_message(self, partition: int, offset: int, raw: bytes | None) -> None:
        assert self.trainer is not None
        try:
            fingerprint, samples = decode_samples(raw)
        except SamplesMessageError as exc:
            self.rejected += 1
            log.warning("samples %d@%d skipped: %s", partition, offset, exc)
            samples, fingerprint = [], self.fingerprint
        if fingerprint != self.fingerprint:
            self.rejected += 1
            log.warning("samples %d@%d skipped: other cluster features", partition, offset)
            samples = []
        for key, vector in samples:
            self.trainer.learn(vector, key=key, partition=partition, offset=offset)
        self.trainer.offsets[partition] = offset + 1  # also past skipped messages

    def publish(self, producer: KafkaProducer, epoch: int) -> ClusterSnapshot:
        assert self.trainer is not None
        self._reload_names()
        snapshot = self.trainer.publish(self.clock(), self.names, trainer=self.member, epoch=epoch)
        producer.send(
            cluster_models_topic(self.settings), key=MODEL_KEY, value=snapshot.to_json()
        ).get(timeout=30)
        self.published = snapshot
        log.info("%s", drift_report(snapshot))
        return snapshot

    def _reload_names(self) -> None:
        try:
            self.names = load_names(self.settings.cluster_names_file)
        except ClusterNamesError as exc:
            log.error("keeping the previous cluster names: %s", exc)


def drift_report(snapshot: ClusterSnapshot) -> str:
    """One line per cluster: what the trainer logs at every publish."""
    total = sum(c.size for c in snapshot.clusters) or 1
    lines = [
        f"published {snapshot.label}: {len(snapshot.clusters)} clusters, "
        f"{snapshot.samples_learned} samples learnt, max centroid shift {snapshot.max_shift:.3f}"
        + (", a fresh fit replaced the continued one" if snapshot.reseeded else "")
    ]
    for c in snapshot.clusters:
        shift = "new" if c.shift is None else f"{c.shift:.3f}"
        lines.append(
            f"  {c.segment_id:<28} {100 * c.size / total:5.1f}% of customers, "
            f"shift {shift:<6} {c.description}"
        )
    return "\n".join(lines)


def run_trainer(settings: Settings) -> None:
    """Block training until SIGINT/SIGTERM."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    ensure_cluster_topics(settings)
    service = TrainerService(settings)

    def stop(signum: int, frame: FrameType | None) -> Any:
        service.stop_requested.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    service.run()
