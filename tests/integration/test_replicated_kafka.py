"""A replicated Kafka (issue 18): three KRaft brokers, topics of 3 replicas with 2 in sync; kill -9
of the broker that leads the most of the worker's partitions mid-stream loses and doubles nothing,
and processing resumes once Kafka has elected new leaders.

The stall (kill -9 until the worker applies events again) is measured and printed, not asserted:
it depends on the machine's load; Kafka's own bound is its broker session timeout (9 s)."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from bench.workload import send
from streams.dependencies import DependencyError, ensure_topics, kafka_admin, redis_client
from streams.settings import Settings
from streams.stack.kafka import KafkaNode, kafka_nodes, start_kafka
from streams.topics import batches_topic
from tests.integration.exactness import (
    Truth,
    assert_exact,
    cdnow_purchases,
    delete_keys,
    tier_settings,
)
from tests.integration.harness import WorkerProcess, wait_drained, wait_until

EVENTS = 30_000
KILL_AFTER_APPLIED = 5_000  # of the first half: mid-stream


def test_a_replication_factor_above_the_brokers_is_refused_naming_the_setting(
    settings: Settings,
) -> None:
    too_many = settings.model_copy(update={"topic_replication": 2})  # the shared stack has one
    with pytest.raises(DependencyError) as error:
        ensure_topics(too_many)
    message = str(error.value)
    assert "\n" not in message
    assert "SEGSTREAM_TOPIC_REPLICATION=2" in message
    assert "1 broker(s)" in message


def partitions_of(settings: Settings, topics: list[str]) -> list[dict[str, Any]]:
    """Every partition of ``topics``, once each topic's metadata has reached the broker asked (a
    topic just created may be described without partitions by the others for a moment)."""

    def described() -> list[dict[str, Any]] | None:
        admin = kafka_admin(settings)
        try:
            found = admin.describe_topics(topics)
        finally:
            admin.close()
        if len(found) < len(topics) or not all(t["partitions"] for t in found):
            return None
        return [p for t in found for p in t["partitions"]]

    return wait_until(described, timeout_s=60, what=f"metadata of {topics}")


def topic_config(settings: Settings, topic: str, name: str) -> str:
    """A topic's setting, once the broker asked describes it (like its metadata, a new topic's
    configuration can reach the other brokers a moment after it was created)."""

    def described() -> str | None:
        admin = kafka_admin(settings)
        try:
            [response] = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        finally:
            admin.close()
        [(_, _, _, _, entries)] = response.resources
        return next((str(entry[1]) for entry in entries if entry[0] == name), None)

    return wait_until(described, timeout_s=60, what=f"{name} of {topic}")


def test_segstreams_topics_have_three_replicas_two_in_sync(
    replicated_kafka: Settings, tmp_path: Path
) -> None:
    settings = tier_settings(replicated_kafka, tmp_path)
    ensure_topics(settings)
    topics = [settings.events_topic, settings.dead_letter_topic, batches_topic(settings)]
    assert {len(p["replicas"]) for p in partitions_of(settings, topics)} == {3}
    for topic in topics:
        assert topic_config(settings, topic, "min.insync.replicas") == "2"


def most_leading_node(settings: Settings, topics: list[str]) -> KafkaNode:
    """The node that leads the most partitions of ``topics``: its crash moves the most leaders."""
    leaders = Counter(int(p["leader"]) for p in partitions_of(settings, topics))
    node_id = leaders.most_common(1)[0][0]
    return next(node for node in kafka_nodes(settings) if node.node_id == node_id)


def kill_node(node: KafkaNode) -> None:
    """kill -9 one broker (its process group): a crash, not a clean shutdown."""
    pid = node.process.pid()
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: node.process.pid() is None, timeout_s=30, what=f"node {node.node_id} gone")


class AppliedWatch:
    """Samples the worker's applied count in the background, to measure how long it stood still
    after the kill (a measurement to print; nothing is asserted of it)."""

    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> AppliedWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            stats = self.worker.stats()
            if stats is not None:
                self.samples.append((time.monotonic(), int(stats["applied"])))

    def stall_after(self, moment: float) -> tuple[float, float]:
        """(seconds from ``moment`` until the count first moved, longest time it stood still
        after ``moment``)."""
        after = [(t, n) for t, n in self.samples if t >= moment]
        changes = [t for (_, was), (t, n) in itertools.pairwise(after) if n != was]
        first = changes[0] - moment if changes else float("nan")
        longest = max((b - a for a, b in itertools.pairwise([moment, *changes])), default=first)
        return first, longest


def applied_at_least(worker: WorkerProcess, count: int) -> bool | None:
    worker._check_alive()
    stats = worker.stats()
    return None if stats is None or int(stats["applied"]) < count else True


@pytest.mark.xfail(
    strict=False,
    reason="known, not yet fixed: on a brand-new 3-broker cluster a worker was once (1 run of 4) "
    "ready but applied nothing for 300 s after GroupCoordinatorNotAvailable at its start",
)
@pytest.mark.usefixtures("cdnow")
def test_a_broker_killed_mid_stream_loses_and_doubles_nothing_and_processing_resumes(
    replicated_kafka: Settings, tmp_path: Path
) -> None:
    settings = tier_settings(replicated_kafka, tmp_path)
    events = cdnow_purchases(EVENTS)
    before, after = events[: EVENTS // 2], events[EVENTS // 2 :]
    ensure_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    conn = redis_client(settings)
    try:
        worker.wait_ready()
        send(settings, settings.events_topic, before)
        wait_until(
            lambda: applied_at_least(worker, KILL_AFTER_APPLIED),
            timeout_s=300,
            what=f"the worker to apply {KILL_AFTER_APPLIED} events",
        )
        topics = [
            settings.events_topic,
            batches_topic(settings),
            f"{settings.app_id}-profiles-changelog",
        ]
        victim = most_leading_node(settings, topics)
        with AppliedWatch(worker) as watch:
            killed = time.monotonic()
            kill_node(victim)
            send(settings, settings.events_topic, after)  # produced with one broker down
            wait_drained(settings, timeout_s=600)
        first, longest = watch.stall_after(killed)
        print(
            f"kill -9 of broker {victim.node_id} (pid file {victim.process.pid_file.name}): "
            f"applied events moved again {first:.1f}s later; longest stall {longest:.1f}s; "
            f"drained {time.monotonic() - killed:.1f}s after the kill"
        )
        worker._check_alive()
        assert_exact(settings, Truth.of(events), conn)
        changelog = f"{settings.app_id}-profiles-changelog"  # Faust's: the brokers' default
        assert topic_config(settings, changelog, "min.insync.replicas") == "2"
        assert {len(p["replicas"]) for p in partitions_of(settings, [changelog])} == {3}

        restarted = time.monotonic()
        start_kafka(settings)  # only the killed node starts; it catches up with the others
        wait_until(
            lambda: all(len(p["isr"]) == 3 for p in partitions_of(settings, topics)) or None,
            timeout_s=120,
            what=f"broker {victim.node_id} back in every partition's in-sync replicas",
        )
        rejoined = time.monotonic() - restarted
        print(f"broker {victim.node_id} back in every ISR {rejoined:.1f}s after its restart")
        assert "Traceback" not in worker.log()
    finally:
        worker.stop()
        delete_keys(conn, settings.redis_key_prefix)
        conn.close()
