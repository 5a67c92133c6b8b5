"""Seconds to re-evaluate 100k existing profiles after a rule change, until Redis is updated.

    bash scripts/bench.sh reevaluate

A worker ingests one purchase for each of N customers (default 100,000; the ingest rate is the
baseline measured in the same run), then a new rules version that moves about half of them is
published through the rules topic. The clock runs from the publish until every partition reports
its scan done and every stale profile re-evaluated and written to Redis. Writes
``reevaluate_100k_s`` (scaled to 100k when N differs), ``reevaluate_profiles_per_s`` and
``reevaluate_vs_ingest`` to bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import redis

from bench.harness import merge_results, read_count
from bench.workload import send
from rules.loader import rule_files
from streams.dependencies import ensure_topics, redis_client
from streams.rollout.kafka_io import publish_rules
from streams.rollout.message import RulesMessage
from streams.rollout.wait import RolloutState, progress_line, wait_for_rollout
from streams.rollout.watch import read_rule_files
from streams.settings import Settings
from streams.sink.aggregates import read_metrics, sizes_of
from tests.integration.harness import WorkerProcess, free_port, wait_drained

EXAMPLES = Path(__file__).resolve().parents[1] / "rules" / "segments"


def purchases(customers: int) -> Iterator[tuple[bytes, bytes]]:
    rng = random.Random(5)
    now = time.time()
    for n in range(customers):
        customer = f"r{n:07d}"
        ts = time.gmtime(now - rng.uniform(0, 80 * 86_400))
        event = {"type": "purchase", "event_id": f"{customer}-1", "customer_id": customer,
                 "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", ts),
                 "order_id": f"{customer}-o1", "total": f"{rng.uniform(5, 1000):.2f}"}  # fmt: skip
        yield customer.encode(), json.dumps(event, separators=(",", ":")).encode()


def edited_rules(directory: Path) -> dict[str, str]:
    """The example rules with big spenders at 250 instead of 500 in 90 days."""
    files = read_rule_files(EXAMPLES)
    files["behavioral.yaml"] = files["behavioral.yaml"].replace(
        "spend_90d >= 500", "spend_90d >= 250"
    )
    assert files != read_rule_files(EXAMPLES)
    for name, text in files.items():
        (directory / name).write_text(text)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args()
    uid = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="segstream-bench-reevaluate-"))
    settings = Settings().model_copy(
        update={
            "app_id": f"bench-re-{uid}",
            "events_topic": f"bench-re-{uid}-events",
            "dead_letter_topic": f"bench-re-{uid}-dead-letters",
            "redis_key_prefix": f"segstream-bench:{uid}:v1",
            "data_dir": work / "worker",
            "web_port": free_port(),
            "log_level": "INFO",  # the harness waits for Faust's "Worker ready" line
            "rules_dir": EXAMPLES,
        }
    )
    ensure_topics(settings)
    print(f"producing {args.customers:,} purchases of distinct customers ...", flush=True)
    send(settings, settings.events_topic, list(purchases(args.customers)))
    worker = WorkerProcess(settings, work / "worker.log").start()
    try:
        worker.wait_ready()
        ingest = _ingest_rate(settings, args.customers)
        print(f"ingested at {ingest:,.0f} events/s (baseline)", flush=True)
        state, seconds = _rollout(settings, work)
    finally:
        worker.stop()
    per_s = state.stale / seconds if seconds else 0.0
    scaled = seconds * 100_000 / args.customers
    print(f"re-evaluated {state.stale:,} of {state.total:,} profiles in {seconds:.2f}s ({work})")
    merge_results(
        {
            "reevaluate_100k_s": round(scaled, 2),
            "reevaluate_profiles_scanned": state.total,
            "reevaluate_profiles_changed": state.stale,
            "reevaluate_profiles_per_s": round(per_s),
            "reevaluate_ingest_events_per_s": round(ingest),
            "reevaluate_vs_ingest": round(per_s / ingest, 2) if ingest else None,
        }
    )


def _ingest_rate(settings: Settings, events: int) -> float:
    stats = f"http://127.0.0.1:{settings.web_port}/segstream/stats"
    first: tuple[float, int] | None = None
    while True:
        count = read_count(stats) or 0
        now = time.monotonic()
        if count and first is None:
            first = (now, count)
        if count >= events and first is not None:
            wait_drained(settings, timeout_s=600)
            return (count - first[1]) / max(now - first[0], 1e-9)
        time.sleep(0.1)


def _rollout(settings: Settings, work: Path) -> tuple[RolloutState, float]:
    client = redis_client(settings)
    before = _size(client, settings, "big_spenders")
    edited = work / "edited"
    edited.mkdir()
    message = RulesMessage.of(edited_rules(edited))
    assert rule_files(edited)
    started = time.monotonic()
    publish_rules(settings, message)
    state = wait_for_rollout(settings, message.version, timeout_s=900, show=_show)
    seconds = time.monotonic() - started
    if not state.done:
        raise RuntimeError(f"rollout did not finish: {state}")
    after = _size(client, settings, "big_spenders")
    print(f"big_spenders: {before:,} -> {after:,} members", flush=True)
    return state, seconds


def _size(client: redis.Redis, settings: Settings, segment: str) -> int:
    sizes = sizes_of(read_metrics(client, settings.redis_key_prefix, settings.topic_partitions))
    return sizes.get(segment, 0)


def _show(state: RolloutState, elapsed_s: float) -> None:
    if state.done or int(elapsed_s * 5) % 5 == 0:
        print(progress_line(state, elapsed_s), flush=True)


if __name__ == "__main__":
    main()
