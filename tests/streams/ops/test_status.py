"""``segstream status`` pieces without a cluster: Faust member metadata, metrics, the screen."""

from __future__ import annotations

import json

from streams.ops.lag import group_lag
from streams.ops.scrape import Scrape
from streams.ops.status import (
    Member,
    RedisStatus,
    Status,
    WorkerStatus,
    _fill_from_metrics,
    format_status,
    member_url,
    problems,
    status_json,
)

METRICS = """\
# HELP segstream_rules_info Active rules version (always 1).
# TYPE segstream_rules_info gauge
segstream_rules_info{version="rules-abc"} 1.0
# HELP segstream_model_info Active cluster model version (1); absent without a model.
# TYPE segstream_model_info gauge
# HELP segstream_events_in_total Event records taken by the stream agent.
# TYPE segstream_events_in_total counter
segstream_events_in_total 1234.0
# HELP segstream_dead_letters_total Events sent to the dead-letter topic.
# TYPE segstream_dead_letters_total counter
segstream_dead_letters_total{reason="bad_json"} 3.0
segstream_dead_letters_total{reason="invalid"} 1.0
# HELP segstream_event_freshness_seconds x
# TYPE segstream_event_freshness_seconds histogram
segstream_event_freshness_seconds_bucket{le="+Inf"} 1234.0
segstream_event_freshness_seconds_count 1234.0
segstream_event_freshness_seconds_sum 99.0
# HELP segstream_freshness_last_batch_seconds x
# TYPE segstream_freshness_last_batch_seconds gauge
segstream_freshness_last_batch_seconds 0.42
"""


def test_the_worker_url_comes_from_faust_member_metadata() -> None:
    user_data = json.dumps({"assignment": {}, "url": "http://10.0.0.5:6066/"}).encode()
    assert member_url(user_data) == "http://10.0.0.5:6066"
    assert member_url(b"") is None
    assert member_url(b"\x00not json") is None
    assert member_url(b"[1, 2]") is None


def test_metrics_fill_versions_counts_and_freshness() -> None:
    worker = WorkerStatus(Member("m1", "/127.0.0.1", "http://127.0.0.1:6066"))
    _fill_from_metrics(worker, Scrape(METRICS))
    assert worker.rules_version == "rules-abc"
    assert worker.model_version is None
    assert worker.events_in == 1234
    assert worker.dead_letters == {"bad_json": 3, "invalid": 1}
    assert worker.freshness_last_s == 0.42


def status(workers: list[WorkerStatus], redis: RedisStatus) -> Status:
    lag = [group_lag("shop-ingest", "events", {0: 10}, {0: 0}, {0: 4})]
    return Status("shop", workers, lag, dead_letters_in_topic=7, redis=redis)


def test_one_screen_with_workers_lag_dead_letters_and_redis() -> None:
    ready = WorkerStatus(Member("m1", "/127.0.0.1", "http://127.0.0.1:6066"), reachable=True,
                         ready=True, rules_version="rules-abc", events_in=1234,
                         dead_letters={"bad_json": 3}, freshness_last_s=0.42)  # fmt: skip
    gone = WorkerStatus(Member("m2", "/10.0.0.9", "http://10.0.0.9:6066"),
                        reasons=["unreachable: timed out"])  # fmt: skip
    redis = RedisStatus(True, ping_ms=0.3, used_memory="1.2M", rules_version="rules-abc",
                        last_write_age_s=2.0, last_write_at=1_780_000_000.0)  # fmt: skip
    screen = format_status(status([ready, gone], redis))
    assert "WORKERS (2 in group)" in screen
    assert "http://127.0.0.1:6066" in screen
    assert "rules-abc" in screen
    assert "0.4 s" in screen
    assert "unreachable: timed out" in screen
    assert "shop-ingest" in screen
    assert " 6" in screen
    assert "7 in the topic; since the workers started: bad_json 3" in screen
    assert (
        "REDIS  up, ping 0.3 ms, memory 1.2M, last write 2026-05-28 20:26:40 UTC (2.0 s ago)"
        in screen
    )
    assert status_json(status([ready], redis))["lag"] == [
        {"group": "shop-ingest", "topic": "events", "total": 6}
    ]


def test_no_workers_and_redis_down_are_said_plainly() -> None:
    screen = format_status(status([], RedisStatus(False, error="Connection refused")))
    assert "no worker is in the consumer group" in screen
    assert "REDIS  DOWN: Connection refused" in screen


WORKER = Member("m1", "/127.0.0.1", "http://127.0.0.1:6066")
READY = WorkerStatus(WORKER, reachable=True, ready=True)
REDIS_UP = RedisStatus(True, ping_ms=0.3, used_memory="1.2M")


def test_the_header_names_the_app_kafka_and_when_in_utc() -> None:
    checked = Status("segstream", [READY], [], 0, REDIS_UP, kafka_bootstrap="k:9092",
                     checked_at=1_780_000_000.0)  # fmt: skip
    first = format_status(checked).splitlines()[0]
    assert first == "segstream status of app segstream, Kafka k:9092, at 2026-05-28 20:26:40 UTC"


def test_healthy_only_with_redis_up_and_every_worker_ready() -> None:
    assert problems(status([READY], REDIS_UP)) == []
    assert "HEALTH  OK" in format_status(status([READY], REDIS_UP))
    assert status_json(status([READY], REDIS_UP))["healthy"] is True
    not_ready = WorkerStatus(READY.member, reachable=True, ready=False, reasons=["recovering"])
    gone = WorkerStatus(Member("m2", "/10.0.0.9", "http://10.0.0.9:6066"))
    assert problems(status([not_ready, gone], RedisStatus(False, error="refused"))) == [
        "Redis is down",
        "worker http://127.0.0.1:6066 is not ready",
        "worker http://10.0.0.9:6066 is unreachable",
    ]
    assert problems(status([], REDIS_UP)) == ["no worker is running"]
    screen = format_status(status([], REDIS_UP))
    assert "HEALTH  UNHEALTHY: no worker is running" in screen
    assert status_json(status([], REDIS_UP))["healthy"] is False


def test_a_resync_in_progress_is_shown_and_is_not_a_health_problem() -> None:
    redis = RedisStatus(True, ping_ms=0.3, used_memory="1.2M", resyncing=[0, 3])
    screen = format_status(status([], redis))
    assert "RESYNC  partitions 0, 3 being rewritten to Redis" in screen
    assert problems(status([], redis)) == ["no worker is running"]
