"""`segstream report` through a real worker, against numbers known in advance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import redis

from rules.loader import load_rules, rule_files
from streams.report import difference_interval
from streams.settings import Settings
from streams.sink.aggregates import read_metrics, sizes_of
from tests.integration.harness import produce, wait_until
from tests.integration.test_end_to_end import purchase

pytestmark = pytest.mark.integration

CUSTOMERS = [f"r{n}" for n in range(40)]
# What each customer buys once a member: (orders in cents). The first purchase (5.00) makes
# everyone a member and, bought before membership, counts for no segment.
LATER: dict[str, list[int]] = {
    c: ([1000, 3000] if n % 4 == 0 else [2000] if n % 4 == 1 else [])
    for n, c in enumerate(CUSTOMERS)
}


def expected(variant_of: Mapping[str, str], variant: str) -> dict[str, int]:
    group = [c for c in CUSTOMERS if variant_of[c] == variant]
    return {
        "members": len(group),
        "reached": len(group),
        "purchasers": sum(1 for c in group if LATER[c]),
        "orders": sum(len(LATER[c]) for c in group),
        "revenue_cents": sum(sum(LATER[c]) for c in group),
    }


def test_report_shows_known_conversion_revenue_and_lift(
    vip_holdout: tuple[Settings, Path, redis.Redis],
) -> None:
    settings, rules_dir, conn = vip_holdout
    rule = load_rules(rule_files(rules_dir)).rules[0]
    variant_of = {c: rule.variant(c) for c in CUSTOMERS}
    treatment, control = expected(variant_of, "treatment"), expected(variant_of, "control")
    assert treatment["reached"] > 0, "the holdout splits these customers"
    assert control["reached"] > 0, "the holdout splits these customers"

    produce(settings, [(c, purchase(c, 0, "5.00")) for c in CUSTOMERS])
    prefix, partitions = settings.redis_key_prefix, settings.topic_partitions
    wait_until(
        lambda: sizes_of(read_metrics(conn, prefix, partitions)).get("vip") == len(CUSTOMERS),
        timeout_s=60,
        what="all members",
    )
    later = [
        (c, purchase(c, i + 1, f"{cents / 100:.2f}"))
        for c in CUSTOMERS
        for i, cents in enumerate(LATER[c])
    ]
    produce(settings, later)

    def orders() -> int:
        vip = read_metrics(conn, prefix, partitions).get("vip", {})
        return sum(counters.get("orders", 0) for counters in vip.values())

    wait_until(
        lambda: orders() == len(later),
        timeout_s=60,
        what="the later purchases to be credited",
    )

    env = {**os.environ, **settings.to_env()}
    run = [sys.executable, "-m", "streams.cli", "report"]
    as_json = subprocess.run([*run, "--json"], env=env, capture_output=True, text=True, check=True)
    [vip] = json.loads(as_json.stdout)
    for variant, numbers in (("treatment", treatment), ("control", control)):
        assert {k: vip[variant][k] for k in numbers} == numbers
        assert vip[variant]["conversion"] == pytest.approx(
            numbers["purchasers"] / numbers["reached"]
        )
        aov = numbers["revenue_cents"] / 100 / numbers["orders"]
        assert vip[variant]["average_order_value"] == pytest.approx(aov)
    lift = difference_interval(
        treatment["purchasers"], treatment["reached"], control["purchasers"], control["reached"]
    )
    assert vip["conversion_lift"] == pytest.approx(
        {"estimate": lift.estimate, "low": lift.low, "high": lift.high}
    )
    table = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
    assert table.splitlines()[0] == "vip"
    assert f"{lift.estimate * 100:+.1f} pp [{lift.low * 100:+.1f}, {lift.high * 100:+.1f}]" in table
