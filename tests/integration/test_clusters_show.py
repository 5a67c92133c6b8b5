"""``segstream clusters show`` reads the model where workers read it: the compacted models topic.

The snapshot is published by the trainer's own publish path (``TrainerService.publish``), on a
deployment (app id) of the test's own; nothing else writes there, so what is read back is final.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from kafka import KafkaProducer

from models.trainer import Trainer
from streams.cli import main
from streams.clusters.admin import ensure_cluster_topics
from streams.clusters.trainer import TrainerService, trainer_config
from streams.dependencies import kafka_admin
from streams.kafka_security import kafka_python_options
from streams.settings import Settings
from streams.topics import cluster_models_topic
from tests.integration.harness import isolated_settings

pytestmark = pytest.mark.integration

SMALL = {"cluster_count": 3, "cluster_min_samples": 100, "cluster_reservoir_size": 300}


@pytest.fixture
def deployment(stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of a deployment of the test's own; the CLI reads the same from the environment."""
    settings = isolated_settings(stack, tmp_path / "w", **SMALL)
    monkeypatch.setenv("SEGSTREAM_APP_ID", settings.app_id)
    for name, value in SMALL.items():
        monkeypatch.setenv(f"SEGSTREAM_{name.upper()}", str(value))
    return settings


def _topics(settings: Settings) -> set[str]:
    admin = kafka_admin(settings)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def test_no_model_is_one_line_exit_1_and_creates_no_topic(
    deployment: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["clusters", "show"]) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert out.startswith(f"no cluster model published for app {deployment.app_id} yet")
    assert cluster_models_topic(deployment) not in _topics(deployment)


def test_show_reads_back_what_the_trainer_published(
    deployment: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    ensure_cluster_topics(deployment)
    service = TrainerService(deployment)
    service.trainer = Trainer(trainer_config(deployment))
    width = len(deployment.cluster_feature_names)
    rng = random.Random(5)
    for n in range(300):
        centre = (n % 3) * 5.0
        vector = tuple(centre + rng.gauss(0, 0.5) for _ in range(width))
        service.trainer.learn(vector, key=f"customer{n}", offset=n)
    assert service.trainer.due()
    producer = KafkaProducer(**kafka_python_options(deployment), acks="all")
    try:
        published = service.publish(producer, epoch=1)
    finally:
        producer.close()

    assert main(["clusters", "show", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["label"] == published.label == "clusters-v1"
    assert body["features_as_configured"]
    assert [c["id"] for c in body["clusters"]] == [c.id for c in published.clusters]
    assert sum(c["size"] for c in body["clusters"]) == body["population"] == 300
    for shown, cluster in zip(body["clusters"], published.clusters, strict=True):
        own = published.scaler.unscale(cluster.centroid)
        assert len(shown["centroid"]) == width
        assert shown["segment_id"] == cluster.segment_id
        assert len(shown["differences"]) == 3
        assert sorted(shown["centroid"].values()) == pytest.approx(
            sorted(_own(spec, value) for spec, value in zip(published.features, own, strict=True))
        )

    assert main(["clusters", "show"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("clusters-v1: 3 clusters of 300 customers")
    assert " overall" in text


def _own(spec: str, value: float) -> float:
    return math.expm1(value) if spec.startswith("log:") else value
