"""Real-stack test helpers: isolated settings, worker processes, producing and polling."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from streams.app import DEAD_LETTER_HEADER_PREFIX
from streams.dependencies import ensure_topics
from streams.ops.scrape import fetch
from streams.pipeline.dead_letters import DEAD_LETTERED_KEY
from streams.settings import Settings
from streams.stack.kafka import kafka_process
from streams.stack.redis_server import redis_binary
from streams.topics import APPLIED_ENVELOPE_KEY, batches_topic, ingest_group

T = TypeVar("T")

# Records of the profiles table that are not profiles (see streams.app.RESERVED_KEYS).
NOT_PROFILES = frozenset({APPLIED_ENVELOPE_KEY, DEAD_LETTERED_KEY})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def isolated_settings(base: Settings, data_dir: Path, **overrides: Any) -> Settings:
    """Settings whose topics, consumer group and Redis keys no other test shares."""
    uid = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "app_id": f"test-{uid}",
        "events_topic": f"test-{uid}-events",
        "dead_letter_topic": f"test-{uid}-dead-letters",
        "redis_key_prefix": f"segstream-test:{uid}:v1",
        "data_dir": data_dir,
        "web_port": free_port(),
        "topic_partitions": 4,
        "log_level": "INFO",
    }
    values.update(overrides)
    return base.model_copy(update=values)


def segment_fields(conn: Any, key: str) -> dict[bytes, bytes]:
    """A customer hash without its reserved ``_`` fields: its segments (empty: in none)."""
    raw: dict[bytes, bytes] = conn.hgetall(key)
    return {field: value for field, value in raw.items() if not field.startswith(b"_")}


def wait_until(check: Callable[[], T | None], *, timeout_s: float, what: str) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.2)


class WorkerProcess:
    """A ``segstream worker`` (or another long-running sub-command, e.g. ``trainer``) in its own
    process, logging to a file the test can show."""

    def __init__(
        self,
        settings: Settings,
        log_path: Path,
        command: str = "worker",
        ready_line: str = "Worker ready",
    ) -> None:
        self.settings = settings
        self.log_path = log_path
        self.command = command
        self.ready_line = ready_line
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        env = {**os.environ, **self.settings.to_env()}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", self.command],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        wait_until(
            lambda: self._check_alive() and self.ready_line in self.log(),
            timeout_s=timeout_s,
            what=f"{self.command} ready (log: {self.log_path})",
        )

    def _check_alive(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise AssertionError(f"worker exited with {self._process.returncode}:\n{self.tail()}")
        return True

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def stats(self) -> dict[str, Any] | None:
        """The worker's ``/segstream/stats`` (counters since it started); None until it serves."""
        try:
            status, body = fetch(f"{self.settings.web_url}/segstream/stats", timeout_s=2)
        except OSError:
            return None
        answer: dict[str, Any] | None = json.loads(body) if status == 200 else None
        return answer

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM and wait (Faust commits and closes cleanly); SIGKILL if it hangs."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: the crash case."""
        process = self._process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def settled_stats(
    workers: Sequence[WorkerProcess], partitions: int
) -> list[dict[str, Any]] | None:
    """Every worker's ``/segstream/stats`` once each rebatcher reads exactly its own agent's
    recovered partitions and together they read all ``partitions`` once; None before."""
    answers = [worker.stats() for worker in workers if worker._check_alive()]
    ready = [stats for stats in answers if stats is not None]
    if len(ready) < len(answers):
        return None
    owned = [stats["partitions"] for stats in ready]
    read = sorted(p for parts in owned for p in parts["rebatcher"])
    if read != list(range(partitions)) or any(p["agent"] != p["rebatcher"] for p in owned):
        return None
    return ready


def produce(settings: Settings, messages: Iterable[tuple[str | None, Any]]) -> int:
    """Send (key, event) pairs: dicts as JSON, bytes as they are, None as a tombstone. Returns
    how many were sent."""
    ensure_topics(settings)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_servers, linger_ms=5, acks="all")
    sent = 0
    try:
        for key, value in messages:
            raw = value if isinstance(value, bytes) or value is None else json.dumps(value).encode()
            producer.send(settings.events_topic, key=key.encode() if key else None, value=raw)
            sent += 1
        producer.flush(30)
    finally:
        producer.close()
    return sent


def consume_all(
    topic: str, settings: Settings, expected: int, timeout_s: float = 30.0
) -> list[Any]:
    """Read ``expected`` messages from the start of ``topic`` (raw kafka-python records)."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < expected and time.monotonic() < deadline:
            records.extend(consumer)
    finally:
        consumer.close()
    return records


def dead_letters_by_source(settings: Settings) -> Counter[tuple[str, str, str]]:
    """How often each source (topic, partition, offset) is in the whole dead-letter topic."""
    sources: Counter[tuple[str, str, str]] = Counter()
    for record in read_topic(settings, settings.dead_letter_topic):
        headers = {k.removeprefix(DEAD_LETTER_HEADER_PREFIX): v.decode() for k, v in record.headers}
        sources[headers["source-topic"], headers["source-partition"], headers["source-offset"]] += 1
    return sources


def rewind(settings: Settings, topic: str, group: str) -> None:
    """Set ``group``'s committed offsets on ``topic`` back to its start, as a crash before any
    commit would leave them: every message is delivered again. The group must have no members."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_servers, group_id=group, enable_auto_commit=False
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.commit({tp: OffsetAndMetadata(0, "", -1) for tp in partitions})
    finally:
        consumer.close()


def committed_lag(settings: Settings, topic: str, group: str) -> int:
    """Messages of ``topic`` not yet committed by consumer ``group``."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, group_id=group)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(partitions)
        lag = 0
        for tp in partitions:
            committed = consumer.committed(tp) or 0
            lag += ends[tp] - committed
        return lag
    finally:
        consumer.close()


def pipeline_lag(settings: Settings) -> int:
    """Events not yet rebatched plus envelopes not yet processed (both committed offsets)."""
    ingest = committed_lag(settings, settings.events_topic, ingest_group(settings))
    return ingest + committed_lag(settings, batches_topic(settings), settings.app_id)


def wait_drained(settings: Settings, *, timeout_s: float) -> None:
    """Wait until the worker has committed every event and every envelope made from them."""
    wait_until(
        lambda: pipeline_lag(settings) == 0,
        timeout_s=timeout_s,
        what=f"worker {settings.app_id} to process all of {settings.events_topic}",
    )


def read_topic(settings: Settings, topic: str) -> Iterator[Any]:
    """Every record of ``topic`` up to its current end (raw kafka-python records)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_servers, enable_auto_commit=False, group_id=None
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            return  # not created yet: empty
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            # poll() before position(): kafka-python can block in position() before a first fetch.
            for records in consumer.poll(timeout_ms=1000, max_records=10_000).values():
                yield from records
            remaining = {tp for tp in remaining if consumer.position(tp) < ends[tp]}
    finally:
        consumer.close()


def read_table(settings: Settings, table: str = "profiles") -> dict[bytes, bytes]:
    """The latest value of every key in a Faust table's changelog (deleted keys and the records
    that are not profiles, such as the last envelope applied, left out)."""
    latest: dict[bytes, bytes | None] = {}
    for record in read_topic(settings, f"{settings.app_id}-{table}-changelog"):
        latest[record.key] = record.value
    return {
        key: value for key, value in latest.items() if value is not None and key not in NOT_PROFILES
    }


class PrivateRedis:
    """A redis-server of this test's own, on a free loopback port, stopped by its PID.

    ``persistent`` keeps its data across a stop and start (append-only file in ``directory``)."""

    def __init__(self, directory: Path, *, persistent: bool = False) -> None:
        self.port = free_port()
        self.directory = directory
        self.persistent = persistent
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [redis_binary(), "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                   "--appendonly", "yes" if self.persistent else "no",
                   "--dir", str(self.directory)]  # fmt: skip
        with (self.directory / "redis.log").open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            wait_until(lambda: self._pings(client), timeout_s=15, what="private redis-server")
        finally:
            client.close()

    @staticmethod
    def _pings(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(15)


def kill_kafka(settings: Settings) -> None:
    """kill -9 a private broker (see the private_kafka fixture): a crash, not a clean shutdown."""
    pid = kafka_process(settings).pid()
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: kafka_process(settings).pid() is None, timeout_s=30, what="Kafka gone")


def rewind_everything(settings: Settings) -> None:
    """What a crash before any commit replays: the rebatcher reads every event again and sends
    it in new envelopes, and Faust delivers every envelope again."""
    rewind(settings, settings.events_topic, ingest_group(settings))
    rewind(settings, batches_topic(settings), settings.app_id)
