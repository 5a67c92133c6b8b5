"""The vertical slice through the real broker and Redis: purchases in, membership out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import redis

from rules.loader import load_rules, rule_files
from streams.app import DEAD_LETTER_HEADER_PREFIX
from streams.settings import Settings
from streams.sink.aggregates import read_members
from streams.sink.redis_keys import customer_key
from tests.integration.harness import (
    WorkerProcess,
    consume_all,
    produce,
    wait_until,
)

pytestmark = pytest.mark.integration


def purchase(customer: str, n: int, total: str) -> dict[str, Any]:
    return {
        "type": "purchase",
        "event_id": f"{customer}-{n}",
        "customer_id": customer,
        "ts": "2026-01-15T10:00:00Z",
        "order_id": f"{customer}-o{n}",
        "total": total,
    }


def test_purchases_make_a_big_spender_visible_in_redis_and_cli(
    settings: Settings, worker: WorkerProcess, redis_conn: redis.Redis
) -> None:
    produce(
        settings,
        [
            ("alice", purchase("alice", 1, "60.00")),
            ("alice", purchase("alice", 2, "40.00")),  # exactly 100: a member
            ("bob", purchase("bob", 1, "99.99")),  # a cent short
        ],
    )
    key = customer_key(settings.redis_key_prefix, "alice")
    raw = wait_until(lambda: redis_conn.hgetall(key), timeout_s=60, what="alice's membership")
    membership = json.loads(raw[b"big_spenders"])
    assert membership["variant"] == "treatment"
    assert membership["rules_version"] == "builtin-1"
    prefix, partitions = settings.redis_key_prefix, settings.topic_partitions
    assert read_members(redis_conn, prefix, partitions, "big_spenders") == {"alice"}
    assert not redis_conn.exists(customer_key(settings.redis_key_prefix, "bob"))

    cli = subprocess.run(
        [sys.executable, "-m", "streams.cli", "segments", "alice", "--json"],
        env={**os.environ, **settings.to_env()},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(cli.stdout)["segments"]["big_spenders"]["variant"] == "treatment"


def applied_at_least(worker: WorkerProcess, events: int) -> bool:
    applied: int = (worker.stats() or {}).get("applied", 0)
    return applied >= events


def test_the_rebatcher_applies_what_its_own_agent_would_and_the_agent_skips_it(
    settings: Settings, worker: WorkerProcess, redis_conn: redis.Redis
) -> None:
    # A partition's first envelope is the agent's (nothing is applied there yet); the later ones
    # are the rebatcher's, each once Kafka has it.
    totals = ["10.00", "20.00", "30.00", "20.00", "30.00"]
    for n, total in enumerate(totals, start=1):
        produce(settings, [("carol", purchase("carol", n, total))])
        wait_until(partial(applied_at_least, worker, n), timeout_s=60, what=f"purchase {n} applied")
    key = customer_key(settings.redis_key_prefix, "carol")
    raw = wait_until(lambda: redis_conn.hgetall(key), timeout_s=60, what="carol's membership")
    assert b"big_spenders" in raw  # 110.00 in five purchases
    stats = worker.stats()
    assert stats is not None
    assert stats["applied"] == len(totals)  # nothing applied twice
    # The agent may take an envelope before the rebatcher's acknowledgement returns (it then
    # applies it itself: once seen in CI on a busy machine, for both of three purchases), so one
    # of the four after the first is the least that proves the rebatcher's part.
    assert stats["applied_by_rebatcher"] >= 1


def test_malformed_event_is_dead_lettered_and_the_worker_keeps_going(
    settings: Settings, worker: WorkerProcess, redis_conn: redis.Redis
) -> None:
    produce(
        settings,
        [
            ("carol", b"{this is not json"),
            ("carol", purchase("carol", 1, "150.00")),
        ],
    )
    key = customer_key(settings.redis_key_prefix, "carol")
    wait_until(lambda: redis_conn.hgetall(key), timeout_s=60, what="carol's membership")

    [dead] = consume_all(settings.dead_letter_topic, settings, expected=1)
    assert dead.value == b"{this is not json"
    assert dead.key == b"carol"
    headers = {k.removeprefix(DEAD_LETTER_HEADER_PREFIX): v.decode() for k, v in dead.headers}
    assert headers["kind"] == "bad_json"
    assert headers["source-topic"] == settings.events_topic
    assert headers["source-offset"] == "0"


def test_rule_files_and_holdout_variants_reach_redis(
    vip_holdout: tuple[Settings, Path, redis.Redis],
) -> None:
    settings, rules_dir, redis_conn = vip_holdout
    customers = [f"h{n}" for n in range(40)]
    produce(settings, [(c, purchase(c, 1, "5.00")) for c in customers])
    prefix, partitions = settings.redis_key_prefix, settings.topic_partitions
    wait_until(
        lambda: len(read_members(redis_conn, prefix, partitions, "vip")) == 40,
        timeout_s=60,
        what="40 vip members",
    )
    rule = load_rules(rule_files(rules_dir)).rules[0]
    for customer in customers:
        raw = redis_conn.hget(customer_key(settings.redis_key_prefix, customer), "vip")
        assert raw is not None
        assert json.loads(raw)["variant"] == rule.variant(customer)
    variants = {rule.variant(c) for c in customers}
    assert variants == {"treatment", "control"}


def test_explain_shows_each_rule_verdict_from_the_owning_worker(
    settings: Settings, worker: WorkerProcess, redis_conn: redis.Redis
) -> None:
    produce(settings, [("ivy", purchase("ivy", 1, "150.00"))])
    key = customer_key(settings.redis_key_prefix, "ivy")
    wait_until(lambda: redis_conn.hgetall(key), timeout_s=60, what="ivy's membership")
    cli = subprocess.run(
        [sys.executable, "-m", "streams.cli", "explain", "ivy", "--json"],
        env={**os.environ, **settings.to_env()},
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    answer = json.loads(cli.stdout)
    [verdict] = answer["verdicts"]
    assert verdict["segment_id"] == "big_spenders"
    assert verdict["member"] is True
    assert verdict["features"] == {"spend_lifetime": 150.0}
    assert verdict["parts"] == [{"text": "spend_lifetime >= 100", "value": True}]
    text = subprocess.run(
        [sys.executable, "-m", "streams.cli", "explain", "ivy"],
        env={**os.environ, **settings.to_env()},
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert "big_spenders" in text
    assert "IN (treatment)" in text
