"""The trainer: cold start, cadence, stable ids, drift numbers, names, and resuming a snapshot."""

from __future__ import annotations

import random

import pytest

from models.snapshot import ClusterSnapshot
from models.trainer import Trainer, TrainerConfig
from tests.models.blobs import blobs

CONFIG = TrainerConfig(
    features=("x", "y", "z"), k=4, min_samples=200, publish_every=100, reservoir_size=200
)


def fed(trainer: Trainer, points: list[tuple[float, ...]], first_offset: int = 0) -> Trainer:
    for n, point in enumerate(points):
        trainer.learn(point, partition=0, offset=first_offset + n)
    return trainer


def by_id(snapshot: ClusterSnapshot) -> dict[str, tuple[float, ...]]:
    return {c.id: c.centroid for c in snapshot.clusters}


def test_cold_start_publishes_nothing_before_min_samples_then_every_n() -> None:
    points, _ = blobs(400)
    trainer = fed(Trainer(CONFIG), points[:199])
    assert not trainer.due()
    fed(trainer, points[199:200], 199)
    assert trainer.due()
    first = trainer.publish(now=10.0)
    assert (first.version, first.samples_learned, first.source_offsets) == (1, 200, {0: 200})
    assert [c.id for c in first.clusters] == ["c1", "c2", "c3", "c4"]
    assert all(c.shift is None for c in first.clusters)
    fed(trainer, points[200:299], 200)
    assert not trainer.due()
    fed(trainer, points[299:300], 299)
    second = trainer.publish(now=20.0)
    assert second.version == 2
    assert sum(c.size for c in second.clusters) == 100  # nearest-centre wins since v1
    assert all(c.shift is not None and c.shift < 0.2 for c in second.clusters)
    assert second.max_shift == max(c.shift or 0.0 for c in second.clusters)


def test_ids_follow_the_clusters_not_the_learners_order() -> None:
    points, _ = blobs(400)
    trainer = fed(Trainer(CONFIG), points[:200])
    first = trainer.publish(now=0.0)
    kmeans = trainer.learner.kmeans
    assert kmeans is not None
    order = [2, 0, 3, 1]  # the learner's centres permuted, as a reseed or restart may do
    permuted = {i: dict(kmeans.centers[j]) for i, j in enumerate(order)}
    for i, moved in permuted.items():
        kmeans.centers[i].update(moved)
    trainer.learner.counts = [trainer.learner.counts[j] for j in order]
    second = fed(trainer, points[200:300], 200).publish(now=1.0)
    for cluster_id, centre in by_id(second).items():
        assert max(abs(a - b) for a, b in zip(centre, by_id(first)[cluster_id], strict=True)) < 0.2


def test_names_file_entries_rename_segments() -> None:
    points, _ = blobs(200)
    snap = fed(Trainer(CONFIG), points).publish(now=0.0, names={"c2": "night_owls"})
    segment_ids = {c.id: c.segment_id for c in snap.clusters}
    assert segment_ids == {
        "c1": "cluster_c1",
        "c2": "cluster_night_owls",
        "c3": "cluster_c3",
        "c4": "cluster_c4",
    }
    renamed = snap.cluster("c2")
    assert renamed is not None
    assert renamed.name == "night_owls"


def test_a_resumed_trainer_goes_on_like_one_that_never_stopped() -> None:
    points, _ = blobs(600, seed=4)
    steady = fed(Trainer(CONFIG), points[:300])
    published = steady.publish(now=0.0)
    restarted = Trainer(CONFIG, ClusterSnapshot.from_json(published.to_json()))
    assert restarted.offsets == {0: 300}
    assert restarted.learner.learned == 300
    for trainer in (steady, restarted):
        fed(trainer, points[300:400], 300)
    a, b = steady.publish(now=1.0), restarted.publish(now=1.0)
    assert (a.version, b.version) == (2, 2)
    assert a.source_offsets == b.source_offsets == {0: 400}
    assert by_id(a).keys() == by_id(b).keys()
    for cluster_id, centre in by_id(a).items():
        assert centre == pytest.approx(by_id(b)[cluster_id], abs=1e-5)  # JSON keeps 6 places


def test_new_features_start_a_new_model_with_new_ids_and_the_next_version() -> None:
    points, _ = blobs(200)
    old = fed(Trainer(CONFIG), points).publish(now=0.0)
    config = TrainerConfig(features=("x", "y", "w"), k=4, min_samples=200, reservoir_size=200)
    trainer = Trainer(config, old)
    assert not trainer.learner.seeded
    assert trainer.offsets == {}
    snap = fed(trainer, points).publish(now=1.0)
    assert snap.version == 2
    assert [c.id for c in snap.clusters] == ["c5", "c6", "c7", "c8"]


def test_a_cluster_that_moved_too_far_gets_a_new_id() -> None:
    rng = random.Random(2)
    points, _ = blobs(200)
    trainer = fed(Trainer(CONFIG), points)
    trainer.publish(now=0.0)
    kmeans = trainer.learner.kmeans
    assert kmeans is not None
    for dim in range(3):
        kmeans.centers[0][dim] += 40.0  # far from anything seen before
    trainer.learner.reservoir.clear()
    fed(trainer, [tuple(rng.gauss(0, 0.5) for _ in range(3)) for _ in range(100)])
    trainer.learner.reseed_gain = 1.0  # keep the moved centre: no reseed
    snap = trainer.publish(now=1.0)
    assert sorted(c.id for c in snap.clusters) == ["c2", "c3", "c4", "c5"]
    assert snap.next_id == 6


def test_a_session_is_learnt_once_however_often_it_is_sampled() -> None:
    trainer = Trainer(CONFIG)
    for n in range(10):
        trainer.learn((1.0, 2.0, 3.0), key="session-a", partition=0, offset=n)
    trainer.learn((1.0, 2.0, 3.0), key="session-b", partition=0, offset=10)
    assert (trainer.learner.learned, trainer.duplicates) == (2, 9)
    assert trainer.offsets == {0: 11}  # duplicates are read past, not re-read after a restart
