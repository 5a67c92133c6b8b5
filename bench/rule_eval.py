"""Microseconds per rule evaluation over real profiles (the rule-engine part of issue 4).

    .venv/bin/python -m bench.rule_eval     -> rule_eval_us in bench/results.json

Ten marketer-style conditions, compiled once, evaluated against FeatureViews of profiles built from
simulated traffic, so lazily computed features are paid for as in the worker.
"""

from __future__ import annotations

import json
import time

from bench.harness import merge_results
from rules.expression import compile_condition
from streams.events import decode_event
from streams.profile import FEATURES, Profile, apply_event
from streams.profile.features import FeatureView
from streams.traffic import generate

CONDITIONS = [
    "spend_90d >= 500",
    "discount_share_of_orders >= 0.5 and orders_90d >= 2",
    "page_views_30d >= 20 and orders_90d == 0",
    "cart_adds_24h > 0 and seconds_since_last_cart_add > 1800 and orders_24h == 0",
    "days_since_last_visit > 30",
    "first_seen_days_ago <= 14",
    "between(age, 18, 25) and affinity['fashion'] > 2",
    "has_children == true and has(needs, 'convenience')",
    "income_band in ['high', 'upper_middle'] and avg_order_value > 100",
    "avg_order_value < 20 and orders_lifetime >= 3",
]


def profiles(count: int) -> list[Profile]:
    built: dict[str, Profile] = {}
    now = time.time()
    for event in generate(count, seed=2, start=now - 30 * 86_400, days=30):
        parsed = decode_event(json.dumps(event.payload).encode(), max_bytes=65_536)
        profile = built.setdefault(parsed.subject_id, Profile(parsed.subject_id))
        apply_event(profile, parsed)
    return list(built.values())


def main() -> None:
    kinds = {feature.name: feature.type for feature in FEATURES}
    rules = [compile_condition(source, kinds) for source in CONDITIONS]
    population = profiles(400)
    now = time.time()
    no_segments: frozenset[str] = frozenset()
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        for profile in population:
            view = FeatureView(profile, now)
            for rule in rules:
                rule.evaluate(view, no_segments)
    evaluations = rounds * len(population) * len(rules)
    per_rule_us = (time.perf_counter() - started) / evaluations * 1e6
    print(f"{evaluations} evaluations: {per_rule_us:.2f} us per rule (features computed lazily)")
    merge_results({"rule_eval_us": round(per_rule_us, 3)})


if __name__ == "__main__":
    main()
