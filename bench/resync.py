"""Seconds to rebuild Redis from the profiles after it lost everything, next to Redis's raw write
rate measured in the same run.

    bash scripts/bench.sh resync               # 100k customers
    python -m bench.resync --full              # and 1M (what the full suite runs)

A worker ingests one purchase for each of N customers (the tier rules of the exactness tests, so
the truth does not move with the clock) and writes its resync markers. Then every key under the
run's prefix is deleted in one step (a FLUSHALL of this run's keys only), and the clock
runs from the markers' deletion until every partition's marker is back, which the worker writes
only once the partition's rewrites are in Redis; Redis is then checked against a recomputation
from the profiles. The raw rate is pipelined HSETs of customer hashes of the same size into
scratch keys, 1,000 per round trip, on the same Redis, measured just before the loss. Writes
``resync_vs_raw_write`` (customers rewritten per second over raw HSETs per second),
``resync_100k_s`` (scaled to 100k when N differs), ``resync_customers_per_s``,
``redis_raw_write_per_s`` and, with ``--full``, ``resync_1m_s`` to bench/results.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from contextlib import closing
from pathlib import Path

import redis

from bench.harness import merge_results
from bench.reevaluate import purchases
from bench.workload import send
from rules.loader import load_rules, rule_files
from streams.dependencies import ensure_topics, redis_client
from streams.redis_connection import sync_client
from streams.schedule.resync import DONE, Marker
from streams.settings import Settings
from streams.sink.redis_keys import customer_key, partition_epoch_key
from tests.integration.exactness import (
    delete_keys,
    final_profiles,
    membership_differences,
    write_tier_rules,
)
from tests.integration.harness import WorkerProcess, free_port, wait_drained, wait_until
from tests.integration.test_resync import flush

RAW_PIPELINE = 1_000  # HSETs per round trip in the raw measurement
SAMPLE = 1_000  # customer hashes read to size the raw payload
CHECK_INTERVAL_S = 0.5  # the workers' marker check (the default is 5 s)
FLUSH_TIMEOUT_S = 600  # deleting 1M customers' keys in one script takes seconds to minutes


def bench_settings(work: Path, uid: str) -> Settings:
    return Settings().model_copy(
        update={
            "app_id": f"bench-rs-{uid}",
            "events_topic": f"bench-rs-{uid}-events",
            "dead_letter_topic": f"bench-rs-{uid}-dead-letters",
            "redis_key_prefix": f"segstream-bench:{uid}:v1",
            "data_dir": work / "worker",
            "web_port": free_port(),
            "log_level": "INFO",  # the harness waits for Faust's "Worker ready" line
            "rules_dir": write_tier_rules(work / "rules"),
            "resync_check_interval_s": CHECK_INTERVAL_S,
        }
    )


def markers_done(client: redis.Redis, settings: Settings) -> bool:
    partitions = range(settings.topic_partitions)
    keys = [partition_epoch_key(settings.redis_key_prefix, p) for p in partitions]
    markers = [Marker.decode(raw) for raw in client.mget(keys)]
    return all(m is not None and m.state == DONE for m in markers)


def sample_hash(client: redis.Redis, prefix: str, customers: int) -> dict[str, str]:
    """A customer hash of the average size of those Redis holds (fields and values as text)."""
    pipe = client.pipeline(transaction=False)
    for n in range(min(SAMPLE, customers)):
        pipe.hgetall(customer_key(prefix, f"r{n:07d}"))
    hashes = [h for h in pipe.execute() if h]
    if not hashes:
        raise RuntimeError("no customer hash in Redis to size the raw writes")
    biggest = max(hashes, key=len)
    mean = sum(len(k) + len(v) for h in hashes for k, v in h.items()) / len(hashes)
    fields = {k.decode(): v.decode() for k, v in biggest.items()}
    scale = mean / sum(len(k) + len(v) for k, v in fields.items())
    return {k: v[: max(1, int(len(v) * scale))] for k, v in fields.items()}


def raw_write_rate(client: redis.Redis, prefix: str, payload: dict[str, str], count: int) -> float:
    """Pipelined HSETs per second of ``payload`` into ``count`` scratch hashes."""
    scratch = f"{prefix}:raw-bench"
    started = time.perf_counter()
    for first in range(0, count, RAW_PIPELINE):
        pipe = client.pipeline(transaction=False)
        for n in range(first, min(first + RAW_PIPELINE, count)):
            pipe.hset(f"{scratch}:{n}", mapping=payload)  # type: ignore[arg-type]
        pipe.execute()
    seconds = time.perf_counter() - started
    delete_keys(client, scratch)
    return count / seconds


def run(customers: int) -> dict[str, float]:
    """One resync of ``customers`` customers on a fresh app: seconds and rates."""
    uid = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="segstream-bench-resync-"))
    settings = bench_settings(work, uid)
    prefix = settings.redis_key_prefix
    ensure_topics(settings)
    print(f"producing {customers:,} purchases of distinct customers ...", flush=True)
    send(settings, settings.events_topic, list(purchases(customers)))
    client = redis_client(settings)
    worker = WorkerProcess(settings, work / "worker.log").start()
    try:
        worker.wait_ready()
        wait_drained(settings, timeout_s=1800)
        wait_until(lambda: markers_done(client, settings), timeout_s=600, what="first markers")
        raw = raw_write_rate(client, prefix, sample_hash(client, prefix, customers), customers)
        # The loss: every key of this run at once, as a FLUSHALL. One script over millions of
        # keys outlasts the 5 s socket timeout of the client above (1M customers: it timed out).
        with closing(sync_client(settings, socket_timeout_s=FLUSH_TIMEOUT_S)) as flusher:
            flush(flusher, prefix)
        started = time.monotonic()
        wait_until(lambda: markers_done(client, settings), timeout_s=3600, what="resync")
        seconds = time.monotonic() - started
        _check_exact(client, settings)
    finally:
        worker.stop()
        delete_keys(client, prefix)
        client.close()
    per_s = customers / seconds
    print(
        f"{customers:,} customers: resync {seconds:.2f}s ({per_s:,.0f}/s), "
        f"raw HSET {raw:,.0f}/s, ratio {per_s / raw:.3f} ({work})",
        flush=True,
    )
    return {"seconds": seconds, "per_s": per_s, "raw_per_s": raw}


def _check_exact(client: redis.Redis, settings: Settings) -> None:
    assert settings.rules_dir is not None
    rules = load_rules(rule_files(settings.rules_dir))
    wrong = membership_differences(
        client, settings.redis_key_prefix, rules, final_profiles(settings)
    )
    if wrong:
        raise RuntimeError(f"Redis differs from the profiles after the resync: {wrong[:5]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--full", action="store_true", help="also 1,000,000 customers")
    args = parser.parse_args()
    small = run(args.customers)
    results: dict[str, float | None] = {
        "resync_vs_raw_write": round(small["per_s"] / small["raw_per_s"], 3),
        "resync_100k_s": round(small["seconds"] * 100_000 / args.customers, 2),
        "resync_customers_per_s": round(small["per_s"]),
        "redis_raw_write_per_s": round(small["raw_per_s"]),
    }
    if args.full:
        results["resync_1m_s"] = round(run(1_000_000)["seconds"], 2)
    merge_results(results)


if __name__ == "__main__":
    main()
