"""The trainers' election without Kafka: what the rebalance callbacks make of this trainer's role,
and when a trainer that leads again may keep the state it had."""

from __future__ import annotations

from kafka import TopicPartition

from models.snapshot import Cluster, ClusterSnapshot, Scaler
from streams.clusters.election import Leadership, Role, continues_own_line

TOPIC = "app-trainer-election"
ELECTION_PARTITION = TopicPartition(TOPIC, 0)


def snapshot(version: int, trainer: str) -> ClusterSnapshot:
    clusters = (Cluster("c1", "cluster_c1", None, (0.0,), 1, 1, None, "all"),)
    return ClusterSnapshot(
        version, 0.0, ("x",), Scaler(1, (0.0,), (1.0,)), clusters, trainer=trainer
    )


def test_the_member_assigned_the_election_partition_leads_the_others_stand_by() -> None:
    leader, standby = Leadership(), Leadership()
    assert (leader.role, leader.leading) == (Role.JOINING, False)
    leader.assigned([ELECTION_PARTITION], TOPIC, epoch=2)
    standby.assigned([], TOPIC, epoch=2)
    assert (leader.role, leader.term, leader.epoch) == (Role.LEADING, 1, 2)
    assert (standby.role, standby.term) == (Role.STANDING_BY, 0)
    other_topic = Leadership()
    other_topic.assigned([TopicPartition("other-trainer-election", 0)], TOPIC, epoch=2)
    assert not other_topic.leading


def test_a_revocation_stops_the_leader_at_once_and_each_assignment_starts_a_new_term() -> None:
    leadership = Leadership()
    leadership.assigned([ELECTION_PARTITION], TOPIC, epoch=1)
    leadership.revoked()  # a rebalance began: publish nothing from here on
    assert (leadership.role, leadership.leading) == (Role.JOINING, False)
    leadership.assigned([ELECTION_PARTITION], TOPIC, epoch=2)  # the sticky assignor gave it back
    assert (leadership.leading, leadership.term, leadership.epoch) == (True, 2, 2)
    leadership.revoked()
    leadership.assigned([], TOPIC, epoch=3)
    assert (leadership.role, leadership.term) == (Role.STANDING_BY, 2)


def test_a_trainer_leading_again_keeps_its_state_only_if_nobody_published_meanwhile() -> None:
    mine = snapshot(4, "a")
    assert continues_own_line(mine, mine)
    assert continues_own_line(None, None)  # nothing published by anybody yet
    assert not continues_own_line(snapshot(5, "b"), mine)  # another leader went on
    assert not continues_own_line(snapshot(4, "b"), mine)  # a rival snapshot of the same version
    assert not continues_own_line(mine, None)  # it had not read what it resumes from
