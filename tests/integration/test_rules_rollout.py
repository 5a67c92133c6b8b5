"""Rule edits reach running workers through Kafka: good ones re-evaluate every existing customer,
bad ones change nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from kafka import KafkaProducer

from streams.dependencies import ensure_topics
from streams.rollout.message import RULES_KEY, RulesMessage
from streams.settings import Settings
from streams.sink.redis_keys import customer_key, rollout_key
from streams.topics import rules_topic
from tests.integration.harness import WorkerProcess, produce, wait_until
from tests.rules.chains import chain_file

pytestmark = pytest.mark.integration


def write_rules(directory: Path, **conditions: str) -> Path:
    directory.mkdir(exist_ok=True)
    lines = ["segments:"]
    for segment_id, condition in conditions.items():
        lines += [f"  - id: {segment_id}", f"    name: {segment_id}", "    description: test",
                  f"    condition: {condition}"]  # fmt: skip
    (directory / "segments.yaml").write_text("\n".join(lines) + "\n")
    return directory


def purchase(customer: str, total: str) -> dict[str, Any]:
    return {"type": "purchase", "event_id": f"{customer}-1", "customer_id": customer,
            "ts": "2026-01-15T10:00:00Z", "order_id": f"{customer}-o1", "total": total}  # fmt: skip


def segments(client: redis.Redis, settings: Settings, customer: str) -> dict[str, Any]:
    raw = client.hgetall(customer_key(settings.redis_key_prefix, customer))
    fields = {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}
    # Fields starting with "_" are the contract's bookkeeping (version, update time, alias).
    return {name: json.loads(v) for name, v in fields.items() if not name.startswith("_")}


def cli(settings: Settings, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", *args],
        env={**os.environ, **settings.to_env()},
        text=True,
        **kwargs,
    )


def stats(settings: Settings) -> dict[str, Any]:
    url = f"http://127.0.0.1:{settings.web_port}/segstream/stats"
    with urllib.request.urlopen(url, timeout=5) as response:  # the test worker, on loopback
        answer: dict[str, Any] = json.load(response)
        return answer


@pytest.fixture
def v1_worker(settings: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    rules = write_rules(tmp_path / "v1", big="spend_lifetime >= 100")
    configured = settings.model_copy(update={"rules_dir": rules})
    process = WorkerProcess(configured, tmp_path / "worker.log").start()
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def test_a_published_edit_re_evaluates_existing_customers_without_a_restart(
    v1_worker: WorkerProcess, redis_conn: redis.Redis, tmp_path: Path
) -> None:
    settings = v1_worker.settings
    produce(settings, [(c, purchase(c, total)) for c, total in
                       [("c1", "50.00"), ("c2", "150.00"), ("c3", "300.00")]])  # fmt: skip
    wait_until(lambda: segments(redis_conn, settings, "c3"), timeout_s=60, what="c3 in big")
    assert segments(redis_conn, settings, "c1") == {}
    pid = v1_worker.pid

    v2 = write_rules(tmp_path / "v2", big="spend_lifetime >= 40", huge="spend_lifetime >= 250")
    publish = cli(settings, "rules", "publish", "--dir", str(v2), "--timeout", "120",
                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    output, _ = publish.communicate(timeout=180)
    assert publish.returncode == 0, output
    assert "100%" in output
    assert "8/8 partitions" in output or f"{settings.topic_partitions}/" in output

    # Done means written to Redis: no waiting here.
    assert segments(redis_conn, settings, "c1").keys() == {"big"}
    assert segments(redis_conn, settings, "c2").keys() == {"big"}
    assert segments(redis_conn, settings, "c3").keys() == {"big", "huge"}
    version = output.split()[1]
    assert segments(redis_conn, settings, "c1")["big"]["rules_version"] == version
    assert v1_worker.pid == pid
    assert stats(settings)["rules"]["version"] == version


def test_a_bad_edit_leaves_the_running_rules_in_place(
    v1_worker: WorkerProcess, redis_conn: redis.Redis, tmp_path: Path
) -> None:
    settings = v1_worker.settings
    produce(settings, [("dora", purchase("dora", "150.00"))])
    wait_until(lambda: segments(redis_conn, settings, "dora"), timeout_s=60, what="dora in big")
    working = write_rules(tmp_path / "edit", big="spend_lifetime >= 100")
    log_path = tmp_path / "watch.log"
    with log_path.open("w") as log:
        watch = cli(settings, "rules", "watch", "--dir", str(working), "--interval", "0.2",
                    stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_until(lambda: "published rules-" in log_path.read_text(), timeout_s=30,
                   what="watch to publish the first version")  # fmt: skip
        first = stats(settings)["rules"]["version"]  # the same files: the same version

        # A save with an error: reported with its position, never published.
        write_rules(working, big="spend_lifetime >= 1OO")
        wait_until(lambda: "not published" in log_path.read_text(), timeout_s=30,
                   what="watch to report the bad save")  # fmt: skip
        assert f"{working / 'segments.yaml'}:5:" in log_path.read_text()

        # A bad version that reached the topic anyway (an old client, a hand-made message).
        bad = RulesMessage.of({"segments.yaml": "segments:\n  - id: big\n    condition: ]["})
        send_raw(settings, bad.encode())
        send_raw(settings, b"not json at all")
        rejected = stats_when(settings, lambda s: s["rules"]["rejections"] >= 2)["rules"]
        assert rejected["version"] == first
        assert "not a rules message" in rejected["rejected"]["problems"]
        # Both were read and refused: nothing was re-evaluated, so membership has not moved.
        assert segments(redis_conn, settings, "dora").keys() == {"big"}

        def reported() -> dict[str, Any] | None:  # the worker reports to Redis every 0.5 s
            report = redis_conn.hget(rollout_key(settings.redis_key_prefix), "rejected")
            refusal: dict[str, Any] | None = json.loads(report) if report else None
            return refusal if refusal and refusal["version"] == "unreadable" else None

        refusal = wait_until(reported, timeout_s=30, what="the refusal reported to Redis")
        assert "not a rules message" in refusal["problems"]

        # Fixing the file publishes again; the stricter rule takes dora out without an event.
        write_rules(working, big="spend_lifetime >= 200")
        wait_until(lambda: not segments(redis_conn, settings, "dora"), timeout_s=60,
                   what="dora to leave big under the fixed rules")  # fmt: skip
        assert stats(settings)["rules"]["rejected"] is None
    finally:
        watch.terminate()
        watch.wait(10)


def stats_when(settings: Settings, check: Any) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        try:
            current = stats(settings)
        except OSError:  # a busy worker that did not answer in time: ask again
            return None
        return current if check(current) else None

    return wait_until(ready, timeout_s=60, what="worker stats")


def send_raw(settings: Settings, value: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all")
    try:
        producer.send(rules_topic(settings), key=RULES_KEY, value=value).get(timeout=30)
    finally:
        producer.close()


def rules_texts(**conditions: str) -> dict[str, str]:
    lines = ["segments:"]
    for segment_id, condition in conditions.items():
        lines.append(f"  - {{id: {segment_id}, name: N, description: d, condition: '{condition}'}}")
    return {"segments.yaml": "\n".join(lines) + "\n"}


POISON = {
    "raw bytes": b"\xff\xfe\x00 not a rules message",
    "deep JSON": b"[" * 100_000,
    "1,500-deep in_segment chain": RulesMessage.of({"chain.yaml": chain_file(1500)}).encode(),
    'no segments ("files": {})': json.dumps(
        {"version": "v", "files": {}, "published_at": 0.0, "publisher": "someone"}
    ).encode(),
}


def test_a_worker_starts_and_runs_on_with_poison_versions_on_the_rules_topic(
    settings: Settings, redis_conn: redis.Redis, tmp_path: Path
) -> None:
    """Issue 17: a 1,500-deep chain on the topic crashed every worker start until the topic was
    deleted, and `"files": {}` withdrew every segment."""
    ensure_topics(settings)  # as a deployment has them
    good = RulesMessage.of(rules_texts(big="spend_lifetime >= 100"))
    send_raw(settings, good.encode())
    for poison in POISON.values():
        send_raw(settings, poison)
    code, output = run_cli(settings, "rules", "status")  # printed a 1,000-frame traceback
    assert code == 0, output
    assert f"published: {good.version} (the rules topic), 1 segments" in output
    assert "Traceback" not in output
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        started = served_stats(worker, lambda s: True)["rules"]
        assert started["version"] == good.version  # the last good version on the topic
        assert started["rejections"] == len(POISON)
        assert "no segments" in started["rejected"]["problems"]
        assert started["rejected"]["offset"] == len(POISON)  # the last poison, after the good one
        produce(settings, [("ada", purchase("ada", "150.00"))])
        wait_until(lambda: segments(redis_conn, settings, "ada"), timeout_s=60, what="ada in big")

        # The same poison while it runs: refused, and the follower reads on.
        for poison in POISON.values():
            send_raw(settings, poison)
        running = served_stats(worker, lambda s: s["rules"]["rejections"] >= 2 * len(POISON))
        assert running["rules"]["version"] == good.version
        assert segments(redis_conn, settings, "ada").keys() == {"big"}

        # A good version on top of it all is applied.
        v2 = write_rules(tmp_path / "v2", big="spend_lifetime >= 100", huge="spend_lifetime >= 120")
        publish = cli(settings, "rules", "publish", "--dir", str(v2), "--timeout", "120",
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        output, _ = publish.communicate(timeout=180)
        assert publish.returncode == 0, output
        assert segments(redis_conn, settings, "ada").keys() == {"big", "huge"}
        after = served_stats(worker, lambda s: True)["rules"]
        assert (after["version"], after["rejected"]) == (output.split()[1], None)
    finally:
        worker.stop()


def served_stats(worker: WorkerProcess, check: Any) -> dict[str, Any]:
    """The worker's stats once they satisfy ``check`` (a busy worker may not answer at once)."""

    def ready() -> dict[str, Any] | None:
        current = worker.stats()
        return current if current is not None and check(current) else None

    return wait_until(ready, timeout_s=60, what=f"worker stats (log: {worker.log_path})")


def run_cli(settings: Settings, *args: str) -> tuple[int, str]:
    done = cli(settings, *args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output, _ = done.communicate(timeout=180)
    return done.returncode, output


def test_publish_confirms_its_own_publish_and_says_when_no_worker_runs(
    v1_worker: WorkerProcess, tmp_path: Path
) -> None:
    """Issue 17: with no worker running, republishing a version printed "100% ... rolled out ...
    Redis updated" and exit 0, from the progress records of its earlier rollout."""
    settings = v1_worker.settings
    v2 = write_rules(tmp_path / "v2", big="spend_lifetime >= 40")
    code, output = run_cli(settings, "rules", "publish", "--dir", str(v2), "--timeout", "120")
    assert code == 0, output
    # The same version again: the running worker reads it and confirms it already runs it.
    code, output = run_cli(settings, "rules", "publish", "--dir", str(v2), "--timeout", "120")
    assert code == 0, output
    assert "rolled out" in output

    v1_worker.stop()
    code, output = run_cli(settings, "rules", "publish", "--dir", str(v2), "--timeout", "5")
    assert code == 3, output
    assert "no worker has read" in output
    assert "rolled out" not in output
    assert "100%" not in output


def test_publish_refuses_to_empty_segments_that_have_members_unless_told(
    v1_worker: WorkerProcess, redis_conn: redis.Redis, tmp_path: Path
) -> None:
    settings = v1_worker.settings
    produce(settings, [("ann", purchase("ann", "150.00")), ("bob", purchase("bob", "300.00"))])
    wait_until(lambda: segments(redis_conn, settings, "bob"), timeout_s=60, what="bob in big")
    wait_until(lambda: segments(redis_conn, settings, "ann"), timeout_s=60, what="ann in big")

    without_big = write_rules(tmp_path / "edit", huge="spend_lifetime >= 250")
    for action in ("check", "publish"):
        code, output = run_cli(settings, "rules", action, "--dir", str(without_big))
        assert code == 2, output
        assert "the edited rules remove 1 segment(s) that have members" in output
        assert re.search(r"\n  big +2 customers would leave\n", output), output
        assert "--allow-removal" in output
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "segments.yaml").write_text("segments: []\n")
    code, output = run_cli(settings, "rules", "publish", "--dir", str(empty))
    assert code == 2, output
    assert "the edited rules have no segments" in output
    assert re.search(r"\n  big +2 customers would leave\n", output), output
    running = served_stats(v1_worker, lambda s: True)["rules"]["version"]
    assert running == v1_worker_version(settings)  # nothing was published

    code, output = run_cli(settings, "rules", "publish", "--dir", str(without_big),
                           "--allow-removal", "--timeout", "120")  # fmt: skip
    assert code == 0, output
    assert segments(redis_conn, settings, "ann") == {}
    assert segments(redis_conn, settings, "bob").keys() == {"huge"}


def v1_worker_version(settings: Settings) -> str:
    assert settings.rules_dir is not None
    return RulesMessage.of(
        {p.name: p.read_text() for p in sorted(settings.rules_dir.glob("*.yaml"))}
    ).version


def test_preview_without_a_published_version_says_there_is_no_baseline(
    settings: Settings, tmp_path: Path
) -> None:
    """Issue 17: with nothing published, preview compared the edited folder (also
    SEGSTREAM_RULES_DIR) with itself: every segment +0, no warning."""
    edited = write_rules(tmp_path / "edit", big="spend_lifetime >= 40")
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(purchase("cy", "50.00")) + "\n")
    configured = settings.model_copy(update={"rules_dir": edited})
    preview = ("rules", "preview", "--dir", str(edited), "--events", str(events))
    ensure_topics(settings)  # as a deployment has them
    code, output = run_cli(configured, *preview)
    assert code == 0, output
    assert "no baseline: nothing (good) is published on the rules topic" in output
    assert "big (new)" in output

    send_raw(settings, b"poison")
    live = RulesMessage.of(rules_texts(big="spend_lifetime >= 100"))
    send_raw(settings, live.encode())
    send_raw(settings, b"poison on top")
    code, output = run_cli(configured, *preview)
    assert code == 0, output
    assert f"current: {live.version} (the rules topic)" in output
    assert "no baseline" not in output
    big = next(line for line in output.splitlines() if line.startswith("big "))
    assert big.split()[1:6] == ["0", "1", "+1", "1", "0"]
