"""The bench suite's two plans, quick and full: what each measures and at what sizes.

Apart from bench/suite.py, which runs them, so that bench/report.py can read them without
importing the suite (which imports the report).
"""

from __future__ import annotations

from dataclasses import dataclass

MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Plan:
    mode: str
    # The named benchmarks also run, each merging its own keys: "name [arguments]".
    others: tuple[str, ...]
    events: int  # the throughput topic (simulated sessions)
    naive_events: int  # the naive agent is ~10x slower: it reads the start of the same topic
    profile_s: int
    latency_s: float  # per load level
    customers: tuple[int, ...]  # memory and recovery runs; the largest gives bytes_per_profile


# A worker at 24k events/s goes through 150,000 events in 6 s, and two of them left no steady
# window after their rebalance: 400,000 leave about 10 s.
QUICK = Plan(
    "quick", ("rule_eval", "ops_overhead", "redis_contract"), 400_000, 30_000, 10, 15.0, (100_000,)
)
FULL = Plan(
    "full",
    (
        "rule_eval",
        "ops_overhead",
        "redis_contract",
        "reevaluate",
        "resync --full",
        "scale_out",
        "clusters",
    ),
    1_000_000,
    60_000,
    30,
    30.0,
    (100_000, MILLION),
)
