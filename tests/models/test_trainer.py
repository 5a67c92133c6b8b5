"""The trainer: cold start, cadence, stable ids, drift numbers, names, and resuming a snapshot."""

from __future__ import annotations

import pytest

from models import evaluation
from models.snapshot import ClusterSnapshot
from models.trainer import Trainer, TrainerConfig
from tests.models.blobs import CENTRES, blobs

CONFIG = TrainerConfig(
    features=("x", "y", "z"), k=4, min_samples=200, publish_every=100, reservoir_size=200
)


def fed(
    trainer: Trainer, points: list[tuple[float, ...]], first_offset: int = 0, prefix: str = "k"
) -> Trainer:
    """Each point is the sample of its own customer (``prefix`` + offset)."""
    for n, point in enumerate(points, start=first_offset):
        trainer.learn(point, key=f"{prefix}{n}", partition=0, offset=n)
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
    assert sum(c.size for c in second.clusters) == 200  # the population: reservoir_size customers
    totals_before = {c.id: c.total for c in first.clusters}
    assert [c.total for c in second.clusters] == [
        c.size + totals_before[c.id] for c in second.clusters
    ]
    assert all(c.shift is not None and c.shift < 0.2 for c in second.clusters)
    assert second.max_shift == max(c.shift or 0.0 for c in second.clusters)


def test_ids_follow_the_clusters_not_the_learners_order() -> None:
    points, _ = blobs(400)
    trainer = fed(Trainer(CONFIG), points[:200])
    first = trainer.publish(now=0.0)
    centres = trainer.learner.centres
    order = [2, 0, 3, 1]  # the learner's centres permuted, as a reseed or restart may do
    trainer.learner.centres = [centres[j] for j in order]
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
    assert (restarted.offsets, restarted.learned) == ({0: 300}, 300)
    fed(steady, points[300:400], 300)
    # The restarted one re-reads the samples topic from its start to refill its population.
    fed(restarted, points[:400])
    assert restarted.learned == steady.learned == 400  # nothing learnt twice
    a, b = steady.publish(now=1.0), restarted.publish(now=1.0)
    assert (a.version, b.version) == (2, 2)
    assert a.source_offsets == b.source_offsets == {0: 400}
    assert by_id(a).keys() == by_id(b).keys()
    assert [c.size for c in a.clusters] == [c.size for c in b.clusters]
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
    points, labels = blobs(200)
    trainer = fed(Trainer(CONFIG), points)
    first = trainer.publish(now=0.0)
    moved_id = evaluation.assign_all(first, [points[labels.index(0)]])[0].removeprefix("cluster_")
    # Every customer of blob 0 is sampled again, now far from anything seen before.
    far = [
        tuple(x + 40.0 for x in point) if label == 0 else point
        for point, label in zip(points, labels, strict=True)
    ]
    snap = fed(trainer, far).publish(now=1.0)
    assert sorted(c.id for c in snap.clusters) == sorted(
        {"c1", "c2", "c3", "c4", "c5"} - {moved_id}
    )
    assert snap.next_id == 6


def test_a_customer_sampled_again_is_learnt_but_counts_once_in_the_population() -> None:
    trainer = Trainer(CONFIG)
    for n in range(10):
        trainer.learn((1.0, 2.0, float(n)), key="customer-a", partition=0, offset=n)
    trainer.learn((1.0, 2.0, 3.0), key="customer-b", partition=0, offset=10)
    assert (trainer.learned, len(trainer.learner.population)) == (11, 2)
    assert sorted(trainer.learner.population.vectors()) == [(1.0, 2.0, 3.0), (1.0, 2.0, 9.0)]
    assert trainer.offsets == {0: 11}


def test_samples_before_the_resumed_offsets_refill_the_population_without_counting() -> None:
    points, _ = blobs(300)
    published = fed(Trainer(CONFIG), points[:200]).publish(now=0.0)
    restarted = Trainer(CONFIG, published)
    fed(restarted, points[:200])
    assert (restarted.learned, restarted.since_publish, restarted.due()) == (200, 0, False)
    assert len(restarted.learner.population) == 200
    fed(restarted, points[200:300], 200)
    assert (restarted.learned, restarted.due()) == (300, True)


def test_when_customers_move_the_next_snapshot_follows_and_unmoved_clusters_keep_their_ids() -> (
    None
):
    """Half of blob 0's customers change behaviour and now look like blob 1's: one snapshot later
    the centres are where the customers are, and the clusters that did not move keep their ids."""
    points, labels = blobs(200)
    trainer = fed(Trainer(CONFIG), points)
    before = trainer.publish(now=0.0)
    ids_before = evaluation.assign_all(before, [points[labels.index(blob)] for blob in range(4)])
    movers = [n for n, label in enumerate(labels) if label == 0][::2]
    shift = [c1 - c0 for c0, c1 in zip(CENTRES[0], CENTRES[1], strict=True)]
    for n in movers:
        moved = tuple(x + d for x, d in zip(points[n], shift, strict=True))
        trainer.learn(moved, key=f"k{n}", partition=0, offset=200 + n)
    for n in [n for n in range(200) if n not in movers][:75]:  # the others, sampled unchanged
        trainer.learn(points[n], key=f"k{n}", partition=0, offset=400 + n)
    assert trainer.due()
    after = trainer.publish(now=1.0)
    assert sorted(c.size for c in after.clusters) == [25, 50, 50, 75]
    sizes = {c.segment_id: c.size for c in after.clusters}
    ids_after = evaluation.assign_all(after, [points[labels.index(blob)] for blob in range(4)])
    assert ids_after == ids_before  # nobody was relabelled
    assert (sizes[ids_before[0]], sizes[ids_before[1]]) == (25, 75)


def test_each_snapshot_names_its_parent_trainer_and_epoch_and_a_successor_continues_the_line() -> (
    None
):
    points, _ = blobs(500, seed=6)
    first = fed(Trainer(CONFIG), points[:200])
    v1 = first.publish(now=0.0, trainer="a", epoch=1)
    v2 = fed(first, points[200:300], 200).publish(now=1.0, trainer="a", epoch=1)
    # A standby that takes over resumes from the latest snapshot and goes on from it.
    successor = fed(Trainer(CONFIG, ClusterSnapshot.from_json(v2.to_json())), points[:400])
    v3 = successor.publish(now=2.0, trainer="b", epoch=3)
    line = [(s.version, s.parent, s.trainer, s.epoch) for s in (v1, v2, v3)]
    assert line == [(1, None, "a", 1), (2, 1, "a", 1), (3, 2, "b", 3)]
