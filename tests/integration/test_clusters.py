"""Clusters end to end on the real broker and Redis: two workers, one trainer, one model version."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from models.features import FeatureExtractor
from models.snapshot import ClusterSnapshot
from streams.clusters.admin import ensure_cluster_topics
from streams.clusters.messages import encode_samples
from streams.clusters.trainer import read_latest_snapshot
from streams.dependencies import redis_client
from streams.ops.scrape import Scrape, scrape
from streams.ops.status import collect, format_status
from streams.report.metrics import read_report
from streams.settings import Settings
from streams.sink.aggregates import read_metrics, sizes_of
from streams.sink.redis_keys import customer_key
from streams.topics import cluster_samples_topic
from streams.traffic import generate
from tests.integration.harness import (
    WorkerProcess,
    free_port,
    isolated_settings,
    produce,
    wait_until,
)

pytestmark = pytest.mark.integration

CLUSTERS = {
    "cluster_sample_rate": 1.0,
    "cluster_min_sessions": 1,
    "cluster_min_samples": 300,
    "cluster_publish_every": 10_000_000,  # only the cold-start model: a version both must reach
    "cluster_reservoir_size": 300,
    # A worker samples a touched customer once per batch. The history below arrives all at once,
    # and in batches of up to 2,000 events most customers would be touched (sampled) once, short of
    # the trainer's 300 samples; small batches sample them about once per session, as live traffic.
    "batch_max_events": 100,
    "cluster_holdout": 0.5,  # half of each cluster's members are its control group
}


def stats(settings: Settings) -> dict[str, Any]:
    url = f"http://{settings.web_host}:{settings.web_port}/segstream/stats"
    with urllib.request.urlopen(url, timeout=5) as response:  # loopback only
        answer: dict[str, Any] = json.load(response)
        return answer


def trainer(settings: Settings, tmp_path: Path, name: str = "trainer") -> WorkerProcess:
    return WorkerProcess(settings, tmp_path / f"{name}.log", "trainer", "trainer ready")


def test_two_workers_assign_with_the_same_model_and_publish_cluster_segments(
    stack: Settings, tmp_path: Path, processes: list[WorkerProcess]
) -> None:
    first = isolated_settings(stack, tmp_path / "a", **CLUSTERS)
    second = first.model_copy(update={"data_dir": tmp_path / "b", "web_port": free_port()})
    for settings, name in ((first, "a"), (second, "b")):
        processes.append(WorkerProcess(settings, tmp_path / f"worker-{name}.log").start())
    processes.append(trainer(first, tmp_path).start())
    for process in processes:
        process.wait_ready()

    history = generate(120, seed=11, start=time.time() - 3 * 86_400, days=3)
    produce(first, ((event.key, event.payload) for event in history))
    model = wait_until(
        lambda: read_latest_snapshot(first), timeout_s=120, what="the trainer's first model"
    )
    wait_until(
        lambda: all(stats(s)["clusters"]["model_version"] == model.label for s in (first, second)),
        timeout_s=60,
        what=f"both workers to load {model.label}",
    )
    # Every customer comes back once: whoever owns it assigns it with the model it now has.
    customers = [f"c{n:07d}" for n in range(120)]
    produce(first, ((c, page_view(c)) for c in customers))
    for settings in (first, second):
        wait_until(
            lambda s=settings: assigned(s, model.label),  # type: ignore[misc]
            timeout_s=90,
            what=f"worker on port {settings.web_port} to assign with {model.label}",
        )
        clusters = stats(settings)["clusters"]
        assert set(clusters["assigned"]) == {model.label}  # no other version ever assigned
        assert [c["id"] for c in clusters["clusters"]] == [c.id for c in model.clusters]

    client = redis_client(first)
    try:
        segment_ids = {c.segment_id for c in model.clusters}
        prefix, partitions = first.redis_key_prefix, first.topic_partitions
        sizes = sizes_of(read_metrics(client, prefix, partitions))
        assert sum(sizes.get(sid, 0) for sid in segment_ids) > 0
        published = {
            field if isinstance(field, str) else field.decode()
            for c in customers
            for field in client.hkeys(customer_key(first.redis_key_prefix, c))
        }
        assert published & segment_ids
        assert_explain_shows_cluster(first, customers, model.label)
        # The success report splits every cluster segment into treatment and control.
        reports = {r.segment_id: r for r in read_report(client, prefix, partitions)}
        held = [reports[sid] for sid in segment_ids if sid in reports]
        assert sum(r.control.members for r in held) > 0
        assert sum(r.treatment.members for r in held) > 0
    finally:
        for key in client.scan_iter(match=f"{first.redis_key_prefix}:*"):
            client.delete(key)
        client.close()


def assigned(settings: Settings, label: str) -> bool:
    count: int = stats(settings)["clusters"]["assigned"].get(label, 0)
    return count > 0


def page_view(customer: str) -> dict[str, Any]:
    return {
        "type": "page_view",
        "event_id": f"again-{customer}",
        "customer_id": customer,
        "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "url": "/",
    }


def assert_explain_shows_cluster(settings: Settings, customers: list[str], label: str) -> None:
    for customer in customers:
        answer = json.loads(
            subprocess.run(
                [sys.executable, "-m", "streams.cli", "explain", customer, "--json"],
                env={**os.environ, **settings.to_env()},
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout
        )
        cluster = answer.get("cluster") or {}
        if cluster.get("status") == "assigned":
            assert cluster["model_version"] == label
            assert cluster["segment_id"].startswith("cluster_")
            assert set(cluster["distances"]) >= {cluster["cluster_id"]}
            return
    raise AssertionError("explain showed no assigned cluster for any customer")


def test_trainer_resumes_from_its_last_snapshot_after_a_restart(
    stack: Settings, tmp_path: Path, processes: list[WorkerProcess]
) -> None:
    settings = isolated_settings(
        stack, tmp_path / "t", cluster_min_samples=200, cluster_publish_every=200,
        cluster_reservoir_size=200, cluster_count=3,
    )  # fmt: skip
    ensure_cluster_topics(settings)
    rng = random.Random(5)

    def send(batches: int, fingerprint: str | None = None) -> None:
        send_samples(settings, rng, batches, fingerprint)

    first = trainer(settings, tmp_path, "trainer-1").start()
    processes.append(first)
    first.wait_ready()
    send(4)
    v1 = wait_until(lambda: read_latest_snapshot(settings), timeout_s=60, what="model v1")
    assert (v1.version, v1.samples_learned, dict(v1.source_offsets)) == (1, 200, {0: 4})
    first.stop()

    send(1, fingerprint="other-features")  # skipped, never fatal
    send(4)
    second = trainer(settings, tmp_path, "trainer-2").start()
    processes.append(second)
    second.wait_ready()
    assert "resuming from clusters-v1 at offsets {0: 4}" in second.log()
    v2 = wait_until(
        lambda: newer_than(settings, 1),
        timeout_s=60,
        what="model v2 from the restarted trainer",
    )
    assert v2.samples_learned == 400  # 200 before the restart, 200 after, none twice
    assert dict(v2.source_offsets) == {0: 9}
    assert [c.id for c in v2.clusters] == [c.id for c in v1.clusters]
    assert all(c.shift is not None and c.shift < 0.5 for c in v2.clusters)
    assert "other cluster features" in second.log()


def send_samples(
    settings: Settings, rng: random.Random, batches: int, fingerprint: str | None = None
) -> None:
    """``batches`` messages of 50 samples each (around three centres) to the samples topic, as
    workers send them; ``fingerprint``: of other features than the settings' own."""
    own = FeatureExtractor.parse(settings.cluster_features).fingerprint
    dims = len(settings.cluster_feature_names)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all")
    try:
        for _ in range(batches):
            samples = [(f"s{rng.random()}", blob(rng, dims)) for _ in range(50)]
            message = encode_samples(fingerprint or own, samples)
            producer.send(cluster_samples_topic(settings), message)
        producer.flush(30)
    finally:
        producer.close()


def test_a_worker_exports_the_model_it_uses_and_status_shows_it(
    stack: Settings, tmp_path: Path, processes: list[WorkerProcess]
) -> None:
    settings = isolated_settings(
        stack, tmp_path / "w", cluster_min_samples=200, cluster_publish_every=200,
        cluster_reservoir_size=200, cluster_count=3,
    )  # fmt: skip
    ensure_cluster_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    processes.append(worker)
    worker.wait_ready()
    assert scrape(settings.web_url).labelled("segstream_model_info", "version") == {}

    processes.append(trainer(settings, tmp_path).start())
    processes[-1].wait_ready()
    send_samples(settings, random.Random(7), 4)
    model = wait_until(lambda: read_latest_snapshot(settings), timeout_s=60, what="a model")
    metrics = wait_until(
        lambda: model_metrics(settings, model.label), timeout_s=60, what=f"{model.label} exported"
    )
    assert metrics.labelled("segstream_model_info", "version") == {model.label: 1.0}
    updated = metrics.labelled("segstream_model_updated_timestamp_seconds", "version")
    assert updated == {model.label: model.created_at}  # what the model-age panel and alert read

    status = collect(settings)
    assert [w.model_version for w in status.workers] == [model.label]
    assert model.label in format_status(status)


def model_metrics(settings: Settings, label: str) -> Scrape | None:
    metrics = scrape(settings.web_url)
    return metrics if label in metrics.labelled("segstream_model_info", "version") else None


def newer_than(settings: Settings, version: int) -> ClusterSnapshot | None:
    snapshot = read_latest_snapshot(settings)
    return snapshot if snapshot is not None and snapshot.version > version else None


def blob(rng: random.Random, dims: int) -> tuple[float, ...]:
    centre = rng.choice((0.0, 5.0, 10.0))
    return tuple(centre + rng.gauss(0, 0.3) for _ in range(dims))
