"""Two trainers on one deployment: one leads, the other stands by and takes over when it dies.

The samples come from the test (as workers send them, 50 a message), so the line of versions ends
where the test stops sending and every wait below ends in a state that no longer moves; the worker
samples (almost) nobody. It follows the models topic and assigns customers of simulated traffic.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from models.snapshot import ClusterSnapshot
from streams.clusters.admin import ensure_cluster_topics
from streams.clusters.trainer import read_latest_snapshot
from streams.settings import Settings
from streams.topics import cluster_models_topic
from streams.traffic import generate
from tests.integration.harness import (
    WorkerProcess,
    isolated_settings,
    produce,
    read_topic,
    wait_until,
)
from tests.integration.test_clusters import assigned, page_view, send_samples, stats, trainer

pytestmark = pytest.mark.integration

ELECTION = {
    "kafka_session_timeout_s": 6,  # the broker's smallest: a killed leader is replaced soon
    "cluster_min_samples": 200,
    "cluster_publish_every": 50,  # a snapshot after every samples message read
    "cluster_reservoir_size": 200,
    "cluster_count": 3,
    "cluster_min_sessions": 1,
    "cluster_sample_rate": 1e-9,  # the test alone sends samples
}


def test_a_standby_trainer_takes_over_and_the_versions_go_on_in_one_line(
    stack: Settings, tmp_path: Path, processes: list[WorkerProcess]
) -> None:
    settings = isolated_settings(stack, tmp_path / "w", **ELECTION)
    ensure_cluster_topics(settings)
    rng = random.Random(13)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    processes.append(worker)
    worker.wait_ready()
    first, second = start_two_trainers(settings, tmp_path, processes)

    customers = [f"c{n:07d}" for n in range(60)]
    history = generate(len(customers), seed=17, start=time.time() - 3 * 86_400, days=3)
    produce(settings, ((event.key, event.payload) for event in history))
    send_samples(settings, rng, 6)
    wait_until(lambda: read_everything(settings, 6), timeout_s=90, what="trainer a's model")
    assert "standing by" not in first.log()  # the leader kept the partition when b joined
    send_samples(settings, rng, 2)
    first.kill()  # mid-stream: while it reads those, then samples come while nobody leads
    send_samples(settings, rng, 4)
    wait_until(lambda: "leading as" in second.log(), timeout_s=90, what="trainer b to take over")
    send_samples(settings, rng, 4)
    final = wait_until(
        lambda: read_everything(settings, 16), timeout_s=90, what="the samples all learnt"
    )

    snapshots = all_snapshots(settings)
    assert snapshots[-1] == final
    assert_one_line(snapshots)
    a_id, b_id = snapshots[0].trainer, final.trainer
    trainers = [s.trainer for s in snapshots]
    taken_over = trainers.index(b_id)
    assert a_id != b_id
    assert f"leading as {b_id}" in second.log()
    assert trainers == [a_id] * taken_over + [b_id] * (len(trainers) - taken_over)
    assert snapshots[taken_over - 1].epoch < snapshots[taken_over].epoch
    assert f"resuming from {snapshots[taken_over - 1].label}" in second.log()

    wait_until(
        lambda: stats(settings)["clusters"]["model_version"] == final.label,
        timeout_s=60,
        what=f"the worker to load {final.label}",
    )
    produce(settings, ((c, page_view(c)) for c in customers))
    wait_until(
        lambda: assigned(settings, final.label),
        timeout_s=90,
        what=f"the worker to assign with {final.label}",
    )


def test_a_leader_paused_until_replaced_publishes_nothing_when_it_wakes(
    stack: Settings, tmp_path: Path, processes: list[WorkerProcess]
) -> None:
    settings = isolated_settings(stack, tmp_path / "p", **ELECTION)
    ensure_cluster_topics(settings)
    rng = random.Random(19)
    first, second = start_two_trainers(settings, tmp_path, processes)
    send_samples(settings, rng, 4)
    wait_until(lambda: read_everything(settings, 4), timeout_s=90, what="v1 from trainer a")
    os.killpg(first.pid, signal.SIGSTOP)  # a GC pause or a frozen VM, longer than the session
    try:
        send_samples(settings, rng, 2)  # a publish is due when a wakes: it reads these first
        wait_until(lambda: "leading as" in second.log(), timeout_s=90, what="b to take over")
        wait_until(lambda: read_everything(settings, 6), timeout_s=90, what="b's snapshot")
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    wait_until(lambda: "standing by" in first.log(), timeout_s=90, what="a, awake, to stand by")

    snapshots = all_snapshots(settings)
    assert_one_line(snapshots)
    a_id, b_id = snapshots[0].trainer, snapshots[-1].trainer
    assert a_id != b_id
    trainers = [s.trainer for s in snapshots]
    taken_over = trainers.index(b_id)
    assert trainers == [a_id] * taken_over + [b_id] * (len(trainers) - taken_over)


def start_two_trainers(
    settings: Settings, tmp_path: Path, processes: list[WorkerProcess]
) -> tuple[WorkerProcess, WorkerProcess]:
    """Trainer a, alone in the group and so leading, then trainer b, standing by."""
    first = trainer(settings, tmp_path, "trainer-a").start()
    processes.append(first)
    first.wait_ready()
    assert "leading as" in first.log()
    second = trainer(settings, tmp_path, "trainer-b").start()
    processes.append(second)
    second.wait_ready()
    assert "standing by as" in second.log()
    return first, second


def read_everything(settings: Settings, messages: int) -> ClusterSnapshot | None:
    """The latest snapshot once it has learnt the first ``messages`` samples messages."""
    snapshot = read_latest_snapshot(settings)
    return snapshot if snapshot and snapshot.source_offsets.get(0) == messages else None


def all_snapshots(settings: Settings) -> list[ClusterSnapshot]:
    topic = cluster_models_topic(settings)
    return [ClusterSnapshot.from_json(record.value) for record in read_topic(settings, topic)]


def assert_one_line(snapshots: list[ClusterSnapshot]) -> None:
    """Versions 1, 2, 3, ... in the order they were published, each continuing the one before."""
    versions = [s.version for s in snapshots]
    assert versions == list(range(1, len(snapshots) + 1))
    assert [s.parent for s in snapshots] == [None, *versions[:-1]]
