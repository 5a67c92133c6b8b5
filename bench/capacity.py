"""docs/scaling.md: how many workers, and how big, for a load, computed from bench/results.json.

    python -m bench.capacity           rewrites docs/scaling.md from bench/results.json
    python -m bench.capacity --check   exits 1 when docs/scaling.md is not what the results give

Only measured figures go in (each named by its key); what the plan assumes beyond them is listed in
the document under "Not measured yet".
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
SCALING_MD = ROOT / "docs" / "scaling.md"

# Each worker is planned at half the rate it reached on a backlog: at 50% load the end-to-end p99
# stayed under 100 ms, at 80% it was several times that (the figures are in the document).
PLANNED_LOAD = 0.5
# Faust's standby copy of each partition (SEGSTREAM_TABLE_STANDBY_REPLICAS, default 1).
STANDBY_REPLICAS = 1
# Two at least: a worker that stops hands its partitions to another.
MIN_WORKERS = 2
# RocksDB may hold old and new files side by side while it compacts.
DISK_HEADROOM = 2.0
# Where the memory figures were measured; beyond the larger one the plan extrapolates.
MEASURED_PROFILES = (100_000, 1_000_000)
TARGETS = (
    (10_000, 1_000_000),
    (10_000, 10_000_000),
    (100_000, 10_000_000),
    (100_000, 100_000_000),
    (1_000_000, 100_000_000),
)
# A Redis primary is planned with this much of the contract's data (room for a fork's copy-on-write
# and replication buffers on a host of twice that) and half of its one command thread.
SHARD_DATA_BYTES = 16 * 2**30
SHARD_CORES = 0.5
# Each partition's aggregates share one slot: a few partitions per shard spread them.
PARTITIONS_PER_SHARD = 4
DEFAULT_PARTITIONS = 8


@dataclass(frozen=True)
class Measured:
    """The bench figures the plan rests on; each field is the results.json key of the same name."""

    throughput_events_per_s: float
    throughput_worker_cores: float
    latency_p99_ms_at_50pct: float
    latency_p99_ms_at_80pct: float
    failover_cpu_us_per_event_standby_0: float
    failover_cpu_us_per_event_standby_1: float
    failover_stall_graceful_s: float
    failover_stall_crash_s: float
    failover_session_timeout_s: float
    bytes_per_profile_100k: float
    bytes_per_profile_1m: float
    rocksdb_bytes_per_profile_1m: float
    recovery_1m_profiles_s: float
    throughput_kafka_cpu_us_per_event: float
    throughput_redis_cpu_us_per_event: float
    redis_bytes_per_customer: float

    @classmethod
    def from_results(cls, values: dict[str, Any]) -> Measured:
        missing = [field.name for field in fields(cls) if values.get(field.name) is None]
        if missing:
            raise KeyError(f"bench/results.json lacks {missing}: run bash scripts/bench.sh")
        return cls(**{field.name: float(values[field.name]) for field in fields(cls)})

    @property
    def standby_cpu_factor(self) -> float:
        """CPU per event with a standby copy over CPU per event without one."""
        return self.failover_cpu_us_per_event_standby_1 / self.failover_cpu_us_per_event_standby_0

    @property
    def planned_events_per_s(self) -> float:
        """What one worker is planned to take, applying another worker's changelog too."""
        return self.throughput_events_per_s * PLANNED_LOAD / self.standby_cpu_factor

    def memory_bytes(self, profiles: float) -> float:
        """Worker memory, on the line through the two measured points (100k and 1M profiles)."""
        small, large = MEASURED_PROFILES
        at_small = self.bytes_per_profile_100k * small
        at_large = self.bytes_per_profile_1m * large
        per_profile = (at_large - at_small) / (large - small)
        return at_small + per_profile * (profiles - small)


@dataclass(frozen=True)
class Plan:
    events_per_s: int
    profiles: int
    workers: int
    profiles_held_per_worker: float
    memory_bytes_per_worker: float
    disk_bytes_per_worker: float
    recovery_s_per_worker: float
    kafka_cores: float
    redis_cores: float
    redis_memory_bytes: float

    @property
    def extrapolated(self) -> bool:
        return self.profiles_held_per_worker > MEASURED_PROFILES[1]

    @property
    def redis_shards(self) -> int:
        by_memory = math.ceil(self.redis_memory_bytes / SHARD_DATA_BYTES)
        return max(1, by_memory, math.ceil(self.redis_cores / SHARD_CORES))

    @property
    def redis_bound_by(self) -> str:
        by_memory = math.ceil(self.redis_memory_bytes / SHARD_DATA_BYTES)
        return "memory" if by_memory >= math.ceil(self.redis_cores / SHARD_CORES) else "cores"

    @property
    def partitions(self) -> int:
        return max(DEFAULT_PARTITIONS, self.workers, PARTITIONS_PER_SHARD * self.redis_shards)


def plan(measured: Measured, events_per_s: int, profiles: int) -> Plan:
    workers = max(MIN_WORKERS, math.ceil(events_per_s / measured.planned_events_per_s))
    own = profiles / workers
    held = own * (1 + STANDBY_REPLICAS)
    return Plan(
        events_per_s=events_per_s,
        profiles=profiles,
        workers=workers,
        profiles_held_per_worker=held,
        memory_bytes_per_worker=measured.memory_bytes(held),
        disk_bytes_per_worker=held * measured.rocksdb_bytes_per_profile_1m * DISK_HEADROOM,
        # A worker whose volume is lost restores its own partitions from their changelogs.
        recovery_s_per_worker=own / 1e6 * measured.recovery_1m_profiles_s,
        kafka_cores=events_per_s * measured.throughput_kafka_cpu_us_per_event / 1e6,
        redis_cores=events_per_s * measured.throughput_redis_cpu_us_per_event / 1e6,
        redis_memory_bytes=profiles * measured.redis_bytes_per_customer,
    )


def _gib(size: float) -> str:
    return f"{size / 2**30:.1f} GiB"


def _plan_row(p: Plan) -> str:
    memory = _gib(p.memory_bytes_per_worker) + (" *" if p.extrapolated else "")
    return (
        f"| {p.events_per_s:,} | {p.profiles:,} | {p.workers} | {p.profiles_held_per_worker:,.0f} "
        f"| {memory} | {_gib(p.disk_bytes_per_worker)} | {p.recovery_s_per_worker:.0f} s "
        f"| {p.kafka_cores:.2f} | {p.redis_cores:.2f} | {_gib(p.redis_memory_bytes)} "
        f"| {p.redis_shards} ({p.redis_bound_by}) | {p.partitions} |"
    )


def _measured_rows(m: Measured) -> list[str]:
    return [f"| `{field.name}` | {getattr(m, field.name):,g} |" for field in fields(m)]


def _method(m: Measured) -> list[str]:
    """How each column of the plan is computed, with the figures it uses."""
    return [
        f"* **Workers:** one worker took {m.throughput_events_per_s:,.0f} events/s on a backlog "
        f"({m.throughput_worker_cores:g} cores: a worker is one Python process, so about one core "
        f"is all it uses). Each is planned at {PLANNED_LOAD:.0%} of that: at 50% load the p99 "
        f"from event to Redis was {m.latency_p99_ms_at_50pct:g} ms, at 80% "
        f"{m.latency_p99_ms_at_80pct:g} ms. With more than one worker each also applies the "
        f"standby copy of another's partitions, {m.standby_cpu_factor:.2f}x the CPU per event "
        f"(failover bench), so a worker is planned at {m.planned_events_per_s:,.0f} events/s; "
        f"never fewer than {MIN_WORKERS}, so that one can take over from another. Request one "
        "core per worker (`deploy/kubernetes/worker-statefulset.yaml`).",
        "* **Memory per worker:** the line through the two measured points, "
        f"{m.bytes_per_profile_100k:,.0f} bytes per profile at 100k profiles and "
        f"{m.bytes_per_profile_1m:,.0f} at 1M, at the profiles a worker holds: its own share "
        f"and {STANDBY_REPLICAS} standby copy of another's. Rows marked * hold more than 1M "
        "profiles per worker: extrapolated, not measured.",
        f"* **Disk per worker:** {m.rocksdb_bytes_per_profile_1m:g} bytes of RocksDB per "
        f"profile held, times {DISK_HEADROOM:g} for compaction.",
        "* **Recovery:** a worker whose volume is lost restores its own share from the "
        f"changelog, at {m.recovery_1m_profiles_s:g} s per 1M profiles (a kept volume spares "
        "that).",
        "* **Kafka and Redis:** their CPU per event in the throughput run, times the rate.",
        f"* **Redis memory:** {m.redis_bytes_per_customer:,.0f} bytes per customer (key layout "
        "v2: the customer's hash, its ledger and its share of the member sets and counters; "
        "`bench.redis_contract`, customers in one or two segments), times the customers, plus "
        "the change streams, bounded by `SEGSTREAM_REDIS_CHANGES_MAXLEN` (about 460 bytes an "
        "entry); a replica per shard doubles it.",
        "* **Redis shards:** primaries of a Redis Cluster, enough for the memory at "
        f"{SHARD_DATA_BYTES / 2**30:g} GiB each and for the cores at {SHARD_CORES:g} core each "
        "(Redis runs commands on one thread); the column says which of the two sets the count.",
        "* **Partitions:** at least the workers, and "
        f"{PARTITIONS_PER_SHARD} per Redis shard, so that the partitions' slots spread over the "
        f"shards; {DEFAULT_PARTITIONS} at least.",
    ]


def _failover(m: Measured) -> str:
    return (
        f"A graceful stop hands a worker's partitions over in {m.failover_stall_graceful_s:g} s; "
        f"a crash stalls them for {m.failover_stall_crash_s:g} s with a "
        f"{m.failover_session_timeout_s:g} s session timeout (`SEGSTREAM_KAFKA_SESSION_TIMEOUT_S`, "
        "60 s by default, sets that wait)."
    )


NOT_MEASURED = [
    "* Workers on separate machines: two workers on the one 2-core machine, sharing it with "
    "Kafka and Redis, gave 1.15x one (`two_worker_speedup`); the plan assumes that workers with "
    "a core each add up.",
    "* The standby copy's memory: counted here at the measured cost of a profile.",
    "* Kafka with three brokers and replication 3; Kafka's memory and disk; the network.",
    "* A Redis Cluster's CPU per event: measured on a standalone Redis, whose cores the plan "
    "divides among the shards.",
    "* The trainer's cores and memory (its requests in deploy/kubernetes are a guess).",
    "* The CPU-per-event cost of a standby was measured at a low rate with 40,000 profiles "
    "(`failover_profiles`); the plan assumes it holds at full rate.",
]


def render(m: Measured) -> str:
    plans = [plan(m, rate, profiles) for rate, profiles in TARGETS]
    return "\n".join(
        [
            "# Capacity plan",
            "",
            "Generated by `python -m bench.capacity` from `bench/results.json`; do not edit by "
            "hand (`tests/bench/test_capacity.py` fails when this file and the results disagree). "
            "All figures come from one 2-core machine shared with other work; README "
            '"Performance" and `bench/RESULTS.md` say how each was measured.',
            "",
            "## What it rests on",
            "",
            "| results.json key | value |",
            "|---|---:|",
            *_measured_rows(m),
            "",
            "## How the plan is computed",
            "",
            *_method(m),
            "",
            "## Plans",
            "",
            "| events/s | profiles | workers | profiles held per worker | memory per worker "
            "| disk per worker | recovery per worker | Kafka cores | Redis cores "
            "| Redis memory | Redis shards | partitions |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *[_plan_row(p) for p in plans],
            "",
            _failover(m),
            "",
            "## Not measured yet",
            "",
            *NOT_MEASURED,
            "",
        ]
    )


def main(argv: list[str]) -> int:
    text = render(Measured.from_results(json.loads(RESULTS.read_text())))
    if argv == ["--check"]:
        current = SCALING_MD.read_text() if SCALING_MD.exists() else ""
        if current != text:
            print("docs/scaling.md is out of date: python -m bench.capacity", file=sys.stderr)
            return 1
        return 0
    SCALING_MD.write_text(text)
    print(f"wrote {SCALING_MD.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
