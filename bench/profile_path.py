"""Profile path throughput vs a naive per-event Faust agent, measured in one run on one topic.

    bash scripts/bench.sh profile_path         # simulated sessions
    bash scripts/bench.sh --workload cdnow     # CDNOW purchases: one event per customer per batch

The worker runs with its built-in rule and no cluster model; the suite (``bench.suite``) measures it
as deployed, with 20 rules and cluster assignment.

Both read the same pre-produced topic on the same broker; each is timed from its first processed
event. Writes ``profile_path_events_per_s``, ``naive_faust_events_per_s`` and their ratio (with a
``_cdnow`` suffix for that workload) to bench/results.json, keeping other keys.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path

from bench.harness import measure_rate, merge_results
from bench.workload import cdnow_events, send, simulated_events
from streams.dependencies import ensure_topics
from streams.settings import Settings
from tests.integration.harness import free_port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--workload",
        choices=["cdnow", "sessions"],
        default="sessions",
        help="cdnow: purchases only, a customer rarely twice in a batch (worst case); "
        "sessions: simulated shopper sessions",
    )
    parser.add_argument("--copies", type=int, default=3, help="cdnow: x 69,659 events")
    parser.add_argument("--events", type=int, default=300_000, help="sessions: events")
    parser.add_argument("--naive-events", type=int, default=30_000)
    args = parser.parse_args()

    uid = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="segstream-bench-"))
    base = Settings()
    settings = base.model_copy(
        update={
            "app_id": f"bench-{uid}",
            "events_topic": f"bench-{uid}-events",
            "dead_letter_topic": f"bench-{uid}-dead-letters",
            "redis_key_prefix": f"segstream-bench:{uid}:v1",
            "data_dir": work / "segstream",
            "web_port": free_port(),
            "log_level": "WARNING",
        }
    )
    ensure_topics(settings)
    if args.workload == "cdnow":
        events = list(cdnow_events(args.copies))
    else:
        events = list(simulated_events(args.events))
    print(f"producing {len(events)} events to {settings.events_topic} ...", flush=True)
    send(settings, settings.events_topic, events)

    naive_port = free_port()
    naive = measure_rate(
        [sys.executable, "-m", "bench.naive_agent"],
        {
            "NAIVE_APP_ID": f"bench-naive-{uid}",
            "NAIVE_BOOTSTRAP": settings.kafka_bootstrap,
            "NAIVE_DATA_DIR": str(work / "naive"),
            "NAIVE_WEB_PORT": str(naive_port),
            "NAIVE_PARTITIONS": str(settings.topic_partitions),
            "NAIVE_TOPIC": settings.events_topic,
        },
        f"http://127.0.0.1:{naive_port}/stats",
        args.naive_events,
        work / "naive.log",
    )
    print(f"naive per-event Faust agent: {naive.per_s:,.0f} events/s", flush=True)

    segstream = measure_rate(
        [sys.executable, "-m", "streams.cli", "worker"],
        settings.to_env(),
        f"http://127.0.0.1:{settings.web_port}/segstream/stats",
        len(events),
        work / "segstream.log",
    )
    print(f"segstream profile path:      {segstream.per_s:,.0f} events/s", flush=True)
    suffix = "" if args.workload == "sessions" else f"_{args.workload}"
    merge_results(
        {
            f"profile_path_events_per_s{suffix}": round(segstream.per_s),
            f"naive_faust_events_per_s{suffix}": round(naive.per_s),
            f"profile_path_vs_naive{suffix}": round(segstream.per_s / naive.per_s, 2),
        }
    )
    print(f"ratio {segstream.per_s / naive.per_s:.1f}x; logs in {work}")


if __name__ == "__main__":
    main()
