"""Ground truth for fault tests: a purchase workload, what every customer's totals must be, and a
check of a worker's final profiles and Redis membership against it.

The profiles are read from the table's changelog (what a new worker would recover), Redis with a
plain client as docs/redis-contract.md documents it; membership is recomputed here from the final
profiles with the same rule files the worker ran.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis

from bench.workload import cdnow_events
from rules.loader import load_rules, rule_files
from rules.ruleset import RuleSet
from streams.profile import Profile, decode_profile
from streams.profile.features import FeatureView
from streams.replay.cdnow import DEFAULT_PATH
from streams.settings import Settings
from streams.sink.aggregates import read_members, read_metrics, read_partitions
from streams.sink.redis_keys import VARIANTS, customer_key
from tests.integration.harness import isolated_settings, read_table

# Spend tiers (one per customer, the highest that matches) and order counts, all over lifetime
# features of purchases, so membership changes, with exits, as a customer's purchases add up.
TIER_RULES = """segments:
  - {id: bronze, name: Bronze, description: d, condition: 'spend_lifetime >= 20',
     exclusive_group: tier, priority: 1}
  - {id: silver, name: Silver, description: d, condition: 'spend_lifetime >= 100',
     exclusive_group: tier, priority: 2}
  - {id: gold, name: Gold, description: d, condition: 'spend_lifetime >= 300',
     exclusive_group: tier, priority: 3, holdout: 20%}
  - {id: repeat_buyers, name: Repeat buyers, description: d, condition: 'orders_lifetime >= 3'}
  - {id: loyal_gold, name: Loyal gold, description: d,
     condition: "in_segment('gold') and orders_lifetime >= 10"}
"""


def write_tier_rules(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tiers.yaml").write_text(TIER_RULES)
    return directory


def tier_settings(stack: Settings, tmp_path: Path, **overrides: Any) -> Settings:
    """A worker's settings with the tier rules, on its own topics and Redis keys.

    A restarted worker gets its partitions once the killed one's Kafka session expires: 10 s
    here instead of the default 60."""
    rules_dir = write_tier_rules(tmp_path / "rules")
    return isolated_settings(
        stack, tmp_path / "worker", rules_dir=rules_dir, kafka_session_timeout_s=10, **overrides
    )


def require_cdnow() -> None:
    """Skip without the CDNOW file; in CI (``CI`` set) its absence is a failure."""
    if not DEFAULT_PATH.exists():
        missing = f"CDNOW data not found at {DEFAULT_PATH}"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)


def cdnow_purchases(count: int) -> list[tuple[bytes, bytes]]:
    """The first ``count`` CDNOW purchase events, repeated under distinct customer ids."""
    copies = count // 69_659 + 1
    return list(itertools.islice(cdnow_events(copies), count))


@dataclass
class Truth:
    """Per customer: orders and spend in cents that the input adds up to."""

    orders: Counter[str] = field(default_factory=Counter)
    cents: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, events: Iterable[tuple[bytes, bytes]]) -> Truth:
        truth = cls()
        for _, raw in events:
            event = json.loads(raw)
            if event.get("type") == "purchase":
                truth.add(event["customer_id"], event["total"])
        return truth

    def add(self, customer: str, total: str) -> None:
        self.orders[customer] += 1
        self.cents[customer] += int(Decimal(total) * 100)


def final_profiles(settings: Settings) -> dict[str, Profile]:
    """Every profile as the changelog holds it: what a restarted worker recovers."""
    return {key.decode(): decode_profile(value) for key, value in read_table(settings).items()}


def totals_differences(truth: Truth, profiles: dict[str, Profile]) -> list[str]:
    """Customers whose orders or spend differ from the truth (or who are missing or extra)."""
    wrong = []
    for customer in sorted(truth.orders.keys() | profiles.keys()):
        profile = profiles.get(customer)
        found = (profile.orders, profile.spend_cents) if profile else None
        expected = (truth.orders[customer], truth.cents[customer])
        if found != expected:
            wrong.append(f"{customer}: expected (orders, cents) {expected}, found {found}")
    return wrong


def expected_membership(rules: RuleSet, profiles: dict[str, Profile]) -> dict[str, dict[str, str]]:
    """customer -> {segment: variant}, recomputed from the final profiles."""
    expected: dict[str, dict[str, str]] = {}
    now = time.time()
    for customer, profile in profiles.items():
        assert profile.consent  # purchases only: the rules alone decide
        assert profile.merged_into is None
        members = rules.members_of(FeatureView(profile, now))
        expected[customer] = {segment: rules.variant(segment, customer) for segment in members}
    return expected


def redis_membership(
    conn: redis.Redis, prefix: str, customers: Sequence[str]
) -> dict[str, dict[str, str]]:
    """customer -> {segment: variant} as a front end reads it: HGETALL, `_` fields skipped."""
    found: dict[str, dict[str, str]] = {}
    for chunk in _chunks(customers, 5_000):
        pipe = conn.pipeline(transaction=False)
        for customer in chunk:
            pipe.hgetall(customer_key(prefix, customer))
        for customer, raw in zip(chunk, pipe.execute(), strict=True):
            found[customer] = {
                name.decode(): json.loads(value)["variant"]
                for name, value in raw.items()
                if not name.startswith(b"_")
            }
    return found


def membership_differences(
    conn: redis.Redis, prefix: str, rules: RuleSet, profiles: dict[str, Profile]
) -> list[str]:
    """Where Redis (customer hashes, member sets, member counters) differs from a recomputation."""
    expected = expected_membership(rules, profiles)
    found = redis_membership(conn, prefix, sorted(expected))
    wrong = [
        f"{customer}: expected {expected[customer]}, Redis has {found[customer]}"
        for customer in sorted(expected)
        if found[customer] != expected[customer]
    ]
    partitions = read_partitions(conn, prefix, 1)
    metrics = read_metrics(conn, prefix, partitions)
    for rule in rules.rules:
        members = {c for c, segments in expected.items() if rule.id in segments}
        in_set = read_members(conn, prefix, partitions, rule.id)
        if in_set != members:
            wrong.append(
                f"set {rule.id}: {len(in_set - members)} extra, {len(members - in_set)} missing"
            )
        for variant in VARIANTS:
            count = sum(1 for c in members if expected[c][rule.id] == variant)
            counter = metrics.get(rule.id, {}).get(variant, {}).get("members", 0)
            if counter != count:
                wrong.append(f"metrics {rule.id}/{variant}: members {counter}, expected {count}")
    return wrong


def assert_exact(settings: Settings, truth: Truth, conn: redis.Redis) -> dict[str, Profile]:
    """Every customer's totals equal the truth and Redis equals a fresh recomputation."""
    assert settings.rules_dir is not None
    profiles = final_profiles(settings)
    wrong = totals_differences(truth, profiles)
    assert not wrong, f"{len(wrong)} customers' totals are wrong, e.g. {wrong[:5]}"
    rules = load_rules(rule_files(settings.rules_dir))
    wrong = membership_differences(conn, settings.redis_key_prefix, rules, profiles)
    assert not wrong, f"{len(wrong)} differences in Redis, e.g. {wrong[:5]}"
    return profiles


def delete_keys(conn: redis.Redis, prefix: str) -> None:
    """Delete every key under ``prefix``, many per command (a 200k replay leaves ~100k)."""
    keys = [_text(key) for key in conn.scan_iter(match=f"{prefix}:*", count=10_000)]
    for chunk in _chunks(keys, 10_000):
        conn.unlink(*chunk)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
