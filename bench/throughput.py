"""Throughput of one worker end to end, against the transport ceiling, a hand-rolled loop doing
the same work and a naive Faust agent.

All of them read the same pre-produced topic of simulated shopper sessions on the same broker,
in the same run: a plain aiokafka consumer (``bench.raw_consume``: the fastest one Python process
reads), the naive per-event Faust agent (``bench.naive_agent``: one table write per event), the
hand-rolled loop doing the worker's work without Faust or durability (``bench.raw_loop``), and
``segstream worker`` exactly as deployed — durable RocksDB tables with their changelog, Redis writes
and the change feed — with the 20 rules of ``bench/rules/``. Anything else the worker does by
default is measured with it: before a deployment's workers start, a cluster model trained on
simulated shoppers is published to its models topic, so they assign every active customer to a
machine-learned cluster as in production; ``/segstream/stats`` (``clusters``) says what ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from bench import hotspots
from bench.harness import BENCH_DIR
from bench.meter import Run, follow
from bench.workload import send, simulated_events
from models import evaluation
from models.features import FeatureExtractor
from models.snapshot import ClusterSnapshot
from streams.clusters.admin import ensure_cluster_topics
from streams.clusters.trainer import MODEL_KEY, trainer_config
from streams.dependencies import ensure_topics
from streams.kafka_security import kafka_python_options
from streams.settings import Settings
from streams.stack.kafka import kafka_process
from streams.stack.redis_server import redis_process
from streams.topics import cluster_models_topic
from tests.integration.harness import WorkerProcess, free_port

RULES_DIR = BENCH_DIR / "rules"


def bench_settings(base: Settings, work: Path, tag: str, **overrides: Any) -> Settings:
    """Settings of one measured deployment: its own app id, topics, Redis keys and data."""
    uid = f"{tag}-{uuid.uuid4().hex[:6]}"
    values: dict[str, Any] = {
        "app_id": f"bench-{uid}",
        "events_topic": f"bench-{uid}-events",
        "dead_letter_topic": f"bench-{uid}-dead-letters",
        "redis_key_prefix": f"segstream-bench:{uid}:v1",
        "data_dir": work / uid,
        "web_port": free_port(),
        "log_level": "WARNING",
        "rules_dir": RULES_DIR,
    }
    return base.model_copy(update=values | overrides)


def stack_pids(settings: Settings) -> dict[str, int]:
    """The dev stack's Kafka and Redis, whose CPU the measured processes share."""
    pids = {"kafka": kafka_process(settings).pid(), "redis": redis_process(settings).pid()}
    return {name: pid for name, pid in pids.items() if pid is not None}


def produce_sessions(settings: Settings, events: int) -> int:
    """Create the topics and fill the events topic with ``events`` simulated events."""
    return produce(settings, list(simulated_events(events)))


def produce(settings: Settings, events: list[tuple[bytes, bytes]]) -> int:
    """Create the topics and fill the events topic with ``events``; how many there are."""
    ensure_topics(settings)
    send(settings, settings.events_topic, events)
    return len(events)


def raw_consume(settings: Settings, events: int) -> dict[str, float]:
    """The plain aiokafka consumer's rate on ``settings.events_topic`` (a separate process)."""
    command = [sys.executable, "-m", "bench.raw_consume"]
    command += [settings.kafka_bootstrap, settings.events_topic, str(events)]
    result: dict[str, float] = json.loads(subprocess.check_output(command, timeout=300))
    result["per_s"] = result["events"] / result["seconds"]
    return result


def raw_loop(settings: Settings, events: int, work: Path) -> dict[str, float]:
    """The hand-rolled loop through the first ``events`` events of ``settings.events_topic``, with
    the rules and (when the worker assigns clusters) the cluster model the worker runs with: its
    measurement (``bench.raw_loop.Measurement``), from a separate process."""
    command = [sys.executable, "-m", "bench.raw_loop", "--topic", settings.events_topic]
    command += ["--events", str(events), "--key-prefix", settings.redis_key_prefix]
    if settings.rules_dir is not None:
        command += ["--rules-dir", str(settings.rules_dir)]
    if settings.cluster_enabled:
        model = work / f"{settings.app_id}-model.json"
        model.write_bytes(cluster_model(settings).to_json())
        command += ["--model", str(model)]
    with (work / f"{settings.app_id}-raw-loop.log").open("wb") as log:
        output = subprocess.check_output(command, stderr=log, timeout=900)
    result: dict[str, float] = json.loads(output)
    return result


@dataclass(slots=True)
class Workers:
    """Worker processes of one deployment, with their stats URLs and pids."""

    processes: list[WorkerProcess]

    @property
    def stats_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{w.settings.web_port}/segstream/stats" for w in self.processes]

    @property
    def pids(self) -> dict[str, int]:
        return {f"worker{n}": w.pid for n, w in enumerate(self.processes)}

    def alive(self) -> bool:
        return all(w._process is not None and w._process.poll() is None for w in self.processes)


MODEL_CUSTOMERS, MODEL_DAYS = 1_500, 7.0  # enough samples for a trainer's first model
_models: dict[str, ClusterSnapshot] = {}


def cluster_model(settings: Settings) -> ClusterSnapshot:
    """The model a trainer publishes while learning simulated shoppers' samples (one per set of
    cluster settings per process: ~15 s to simulate and train)."""
    key = repr(sorted((k, v) for k, v in settings.model_dump().items() if k.startswith("cluster")))
    if key not in _models:
        extractor = FeatureExtractor.parse(settings.cluster_features)
        population = evaluation.simulated_population(
            extractor, customers=MODEL_CUSTOMERS, days=MODEL_DAYS, seed=3,
            sample_rate=settings.cluster_sample_rate, min_sessions=settings.cluster_min_sessions,
        )  # fmt: skip
        snapshots = evaluation.train(trainer_config(settings), population.samples)
        if not snapshots:
            raise RuntimeError(f"no cluster model from {len(population.samples)} samples")
        _models[key] = snapshots[-1]
    return _models[key]


def publish_cluster_model(settings: Settings) -> None:
    """Give the deployment a cluster model before its workers start, as a trainer would."""
    model = cluster_model(settings)
    ensure_cluster_topics(settings)
    producer = KafkaProducer(**kafka_python_options(settings), acks="all")
    try:
        producer.send(cluster_models_topic(settings), key=MODEL_KEY, value=model.to_json()).get(30)
    finally:
        producer.close()


@contextmanager
def workers(settings: Settings, count: int, work: Path) -> Iterator[Workers]:
    """``count`` workers of one deployment (own web ports and data dirs), stopped on exit."""
    started = []
    if settings.cluster_enabled:
        publish_cluster_model(settings)
    try:
        for n in range(count):
            own = settings.model_copy(
                update={"web_port": free_port(), "data_dir": settings.data_dir / f"w{n}"}
            )
            own.data_dir.mkdir(parents=True, exist_ok=True)
            started.append(WorkerProcess(own, work / f"{settings.app_id}-w{n}.log").start())
        yield Workers(started)
    finally:
        for process in started:
            process.stop()


def run_workers(settings: Settings, count: int, events: int, work: Path) -> tuple[Run, Any]:
    """Time ``count`` workers through ``events`` events; also return one worker's stats."""
    with workers(settings, count, work) as group:
        pids = group.pids | stack_pids(settings)
        # Applied, not received: after a rebalance a worker replays what the previous owner of a
        # partition processed but had not committed, and drops it as repeats.
        run = follow(group.stats_urls, events, pids, alive=group.alive, field="applied")
        return run, worker_stats(group.stats_urls[0])


def profile_worker(settings: Settings, seconds: int, work: Path) -> Path:
    """py-spy samples of one worker working through the backlog for ``seconds``."""
    output = work / f"{settings.app_id}-py-spy.txt"
    with workers(settings, 1, work) as group:
        follow(group.stats_urls, 1, group.pids, alive=group.alive)  # until it processes events
        hotspots.record(group.processes[0].pid, seconds, output)
    return output


def run_naive(settings: Settings, events: int, work: Path) -> Run:
    """The naive per-event Faust agent through the first ``events`` events."""
    port = free_port()
    env = {
        "NAIVE_APP_ID": f"{settings.app_id}-naive",
        "NAIVE_BOOTSTRAP": settings.kafka_bootstrap,
        "NAIVE_DATA_DIR": str(work / f"{settings.app_id}-naive"),
        "NAIVE_WEB_PORT": str(port),
        "NAIVE_PARTITIONS": str(settings.topic_partitions),
        "NAIVE_TOPIC": settings.events_topic,
    }
    with (work / f"{settings.app_id}-naive.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.naive_agent"],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        pids = {"naive": process.pid} | stack_pids(settings)
        url = f"http://127.0.0.1:{port}/stats"
        return follow([url], events, pids, alive=lambda: process.poll() is None)
    finally:
        process.terminate()
        process.wait(30)


def worker_stats(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # loopback only
        return json.load(response)
