"""Which of the started trainers trains: a consumer group on a one-partition election topic.

Every ``segstream trainer`` of a deployment joins the group ``{app_id}-trainer-election`` on the
topic of the same name (one partition, never written). Kafka's group coordinator assigns that
partition to exactly one member per generation: that member leads (reads samples, publishes
snapshots), the others stand by, polling, so the coordinator keeps them in the group. A leader that
dies stops heartbeating and is dropped after ``SEGSTREAM_KAFKA_SESSION_TIMEOUT_S``; a leader that
stops cleanly leaves at once. Either way the next rebalance hands the partition to a standby. The
sticky assignor keeps the partition where it is when a standby joins or leaves.

**Fencing.** A leader learns that it lost the partition only when it polls: a leader paused (GC,
a stopped VM, a network partition) longer than the session timeout is replaced while it sleeps.
So right before each publish it (1) polls, which runs the revocation a pending rebalance brings, and
(2) commits an offset for the election partition synchronously: the coordinator refuses a commit
from a member that is not in the current generation, so this round trip proves it still leads at
that moment. What remains possible is a pause between that commit's answer and the snapshot
reaching the broker (milliseconds, unless the process is frozen exactly there): then one stale
snapshot can land beside the new leader's. It carries its trainer's id and election generation
(``epoch``) and repeats a version number (it continues the same parent); workers take the first of
two equal versions and the next version of the line replaces it (see ``ModelWatcher.offer``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from enum import Enum
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from models.snapshot import ClusterSnapshot
from streams.kafka_security import kafka_python_options
from streams.settings import Settings
from streams.topics import trainer_client_id, trainer_election_topic, trainer_group

log = logging.getLogger(__name__)

HEARTBEATS_PER_SESSION = 3  # Kafka's advice: heartbeat at most a third of the session timeout


class Role(Enum):
    JOINING = "joining the group or rebalancing"
    LEADING = "leading"
    STANDING_BY = "standing by"


class Leadership:
    """What the rebalance callbacks said: the role now, and which leading term it is (a term
    begins each time the election partition is assigned to this trainer)."""

    def __init__(self) -> None:
        self.role = Role.JOINING
        self.term = 0
        self.epoch = -1  # the group generation of the latest assignment

    @property
    def leading(self) -> bool:
        return self.role is Role.LEADING

    def assigned(self, partitions: Iterable[TopicPartition], topic: str, epoch: int) -> None:
        self.epoch = epoch
        if any(p.topic == topic for p in partitions):
            self.role = Role.LEADING
            self.term += 1
        else:
            self.role = Role.STANDING_BY

    def revoked(self) -> None:
        """Stop leading at once: until the next assignment this trainer must publish nothing."""
        self.role = Role.JOINING


def continues_own_line(latest: ClusterSnapshot | None, basis: ClusterSnapshot | None) -> bool:
    """Whether a trainer that leads again may keep its in-memory state: only if the newest snapshot
    on the models topic is still the one that state continues (``basis``, what it last read or
    published). Otherwise another trainer published meanwhile and it resumes from that one.

    >>> continues_own_line(None, None)
    True
    """
    return latest == basis


class _Callbacks(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, election: Election) -> None:
        self.election = election

    def on_partitions_revoked(self, revoked: Any) -> None:
        was_leading = self.election.leadership.leading
        self.election.leadership.revoked()
        if was_leading:  # also when a standby joins: the sticky assignor gives it straight back
            log.info("trainers rebalancing: publishing nothing until the election ends")

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.election.leadership.assigned(
            assigned, self.election.partition.topic, self.election.generation()
        )


class Election:
    """This trainer's membership in the election group."""

    def __init__(self, settings: Settings, member: str) -> None:
        self.member = member
        self.partition = TopicPartition(trainer_election_topic(settings), 0)
        self.leadership = Leadership()
        session_ms = int(settings.kafka_session_timeout_s * 1000)
        self.consumer = KafkaConsumer(
            **kafka_python_options(settings),
            client_id=trainer_client_id(settings),
            group_id=trainer_group(settings),
            enable_auto_commit=False,
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=session_ms // HEARTBEATS_PER_SESSION,
            partition_assignment_strategy=(StickyPartitionAssignor,),
        )
        self.consumer.subscribe([self.partition.topic], listener=_Callbacks(self))

    def generation(self) -> int:
        # kafka-python keeps the generation private; it only labels snapshots (the fencing is the
        # commit in confirm()), so a missing attribute costs a label, not safety.
        coordinator = getattr(self.consumer, "_coordinator", None)
        return int(getattr(getattr(coordinator, "_generation", None), "generation_id", -1))

    def poll(self, timeout_ms: int) -> bool:
        """Take part in the group (rebalances run their callbacks here); True while leading."""
        self.consumer.poll(timeout_ms=timeout_ms, max_records=1)
        return self.leadership.leading

    def confirm(self) -> bool:
        """True if the coordinator still counts this trainer as the leader right now."""
        if not self.poll(0):
            return False
        try:
            self.consumer.commit({self.partition: OffsetAndMetadata(0, self.member, -1)})
        except KafkaError as exc:
            log.warning("no longer the leading trainer (%r): publishing nothing", exc)
            self.leadership.revoked()
            return False
        return True

    def close(self) -> None:
        """Leave the group now, so a standby takes over without waiting for the session timeout."""
        self.consumer.close()
