"""Failover: how long a stopped or crashed worker's partitions sit idle before another takes them.

Two workers of one deployment hold ``--profiles`` customers (one purchase each, so as many records
in the profiles changelog). Then one is stopped (SIGTERM, a graceful stop), or, in another fresh
deployment, killed (SIGKILL, a crash): fresh, so that the survivor holds no copy of the victim's
partitions from an earlier hand-over. The stall is the time from the signal until the surviving
worker's rebatcher reads every partition, which it does once its agent owns them and their tables
have recovered: from then on their events are applied. A crash also waits for the dead member's
Kafka session (``SEGSTREAM_KAFKA_SESSION_TIMEOUT_S``, 10 s here), reported beside it.

Measured with ``SEGSTREAM_TABLE_STANDBY_REPLICAS`` 0 and 1 in the same run: without a standby copy
the survivor restores the stopped worker's partitions from the whole changelog::

    bash scripts/bench.sh failover
    python -m bench.failover --profiles 20000 --standbys 0 1

What standbys cost: both workers' CPU time per event while they apply the purchases (and, with a
standby, each reads the other's changelog too), from the moment both read their partitions until
the purchases drained and the standbys had 5 s to catch up.

Merges ``failover_stall_graceful_s``, ``failover_stall_crash_s`` (the default, one standby),
their ``_standby_N`` variants, ``failover_cpu_us_per_event_standby_N``,
``failover_session_timeout_s`` and ``failover_profiles`` into bench/results.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import merge_results
from bench.meter import cpu_seconds
from bench.scale import purchases
from bench.throughput import bench_settings
from bench.workload import send
from streams.dependencies import ensure_topics
from streams.settings import Settings
from tests.integration.harness import (
    WorkerProcess,
    free_port,
    settled_stats,
    wait_drained,
    wait_until,
)

SESSION_TIMEOUT_S = 10.0
STANDBY_CATCH_UP_S = 5.0  # after the backlog drained: the standby reads the last changelog records
TAKE_OVER_TIMEOUT_S = 600.0


def reads_every_partition(worker: WorkerProcess, partitions: int) -> bool:
    worker._check_alive()
    stats = worker.stats()
    return stats is not None and stats["partitions"]["rebatcher"] == list(range(partitions))


class Deployment:
    """Two workers of one deployment; the second one is the one stopped and killed."""

    def __init__(self, settings: Settings, work: Path) -> None:
        self.settings = settings
        self.work = work
        self.survivor = self._worker("survivor")
        self.victim = self._worker("victim")
        self._victims = 0

    def _worker(self, name: str) -> WorkerProcess:
        own = self.settings.model_copy(
            update={"web_port": free_port(), "data_dir": self.settings.data_dir / name}
        )
        log = self.work / f"{self.settings.app_id}-{name}.log"
        return WorkerProcess(own, log).start()

    def wait_settled(self) -> None:
        partitions = self.settings.topic_partitions
        wait_until(
            lambda: settled_stats([self.survivor, self.victim], partitions),
            timeout_s=TAKE_OVER_TIMEOUT_S,
            what="both workers to read their partitions",
        )

    def stall_s(self, stop: str) -> float:
        """Seconds from ``stop`` ("stop" or "kill") of the victim until the survivor reads every
        partition."""
        started = time.monotonic()
        getattr(self.victim, stop)()
        partitions = self.settings.topic_partitions
        wait_until(
            lambda: reads_every_partition(self.survivor, partitions),
            timeout_s=TAKE_OVER_TIMEOUT_S,
            what=f"the survivor to take over after a {stop}",
        )
        return time.monotonic() - started

    def cpu_seconds(self) -> float:
        """Both workers' CPU time: with standbys, each also reads the other's changelog."""
        return sum(cpu_seconds(worker.pid) for worker in (self.survivor, self.victim))

    def close(self) -> None:
        for worker in (self.victim, self.survivor):
            worker.stop()


def measure(work: Path, profiles: int, standbys: int, stop: str) -> dict[str, float]:
    """One fresh deployment: its stall after ``stop`` and its CPU per event before."""
    settings = bench_settings(
        Settings(),
        work,
        f"failover-{stop}-{standbys}",
        table_standby_replicas=standbys,
        kafka_session_timeout_s=SESSION_TIMEOUT_S,
    )
    ensure_topics(settings)
    events = list(purchases(profiles, "f"))
    deployment = Deployment(settings, work)
    try:
        deployment.wait_settled()
        cpu_before = deployment.cpu_seconds()
        send(settings, settings.events_topic, events)
        wait_drained(settings, timeout_s=TAKE_OVER_TIMEOUT_S)
        time.sleep(STANDBY_CATCH_UP_S)
        cpu_us = (deployment.cpu_seconds() - cpu_before) / len(events) * 1e6
        return {"stall_s": deployment.stall_s(stop), "cpu_us_per_event": cpu_us}
    finally:
        deployment.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__)
    parser.add_argument("--profiles", type=int, default=60_000)
    parser.add_argument("--standbys", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--work", type=Path, help="keep the workers' data and logs here")
    args = parser.parse_args(argv)
    values: dict[str, Any] = {
        "failover_profiles": args.profiles,
        "failover_session_timeout_s": SESSION_TIMEOUT_S,
    }
    default = Settings.model_fields["table_standby_replicas"].default
    with tempfile.TemporaryDirectory(prefix="segstream-failover-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for standbys in args.standbys:
            graceful = measure(work, args.profiles, standbys, "stop")
            crash = measure(work, args.profiles, standbys, "kill")
            cpu_us = (graceful["cpu_us_per_event"] + crash["cpu_us_per_event"]) / 2
            print(
                f"{args.profiles:,} profiles, {standbys} standby: graceful stop "
                f"{graceful['stall_s']:.1f} s, crash {crash['stall_s']:.1f} s "
                f"(session timeout {SESSION_TIMEOUT_S:.0f} s); two workers' CPU "
                f"{cpu_us:.0f} us per event",
                flush=True,
            )
            for kind, stalled in (("graceful", graceful), ("crash", crash)):
                seconds = round(stalled["stall_s"], 2)
                values[f"failover_stall_{kind}_s_standby_{standbys}"] = seconds
                if standbys == default:
                    values[f"failover_stall_{kind}_s"] = seconds
            values[f"failover_cpu_us_per_event_standby_{standbys}"] = round(cpu_us, 1)
    merge_results(values)


if __name__ == "__main__":
    main()
