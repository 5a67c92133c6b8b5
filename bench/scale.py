"""Scale: bytes per profile and recovery time for many distinct customers.

One worker ingests one purchase (one line item, a device and a channel) for each of N customers,
so N profiles with counters, time buckets and an affinity each. Memory per profile is the RocksDB
state on disk (SST files and write-ahead log, after a clean stop) plus the worker's resident memory
growth (decoded-profile cache, RocksDB memtables and block cache), both divided by N. Recovery: a
worker of the same deployment starts with an empty data directory, so Faust restores every profile
from the changelog topic; timed from process start until ``/readyz`` answers 200. A worker of an
empty deployment started the same way gives the start-up time without any state, in the same run.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.meter import follow, rss_bytes
from bench.throughput import stack_pids, workers
from bench.workload import send
from streams.dependencies import ensure_topics
from streams.settings import Settings

CATEGORIES = ("fashion", "electronics", "books", "home", "toys", "sports", "beauty", "garden")
DEVICES = ("desktop", "mobile", "tablet", "app")


def purchases(customers: int, prefix: str) -> Iterator[tuple[bytes, bytes]]:
    """One purchase per customer over the last 60 days, deterministic."""
    now = time.time()
    for n in range(customers):
        customer = f"{prefix}{n:08d}"
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - (n * 7919) % (60 * 86_400)))
        category, device = CATEGORIES[n % len(CATEGORIES)], DEVICES[n % len(DEVICES)]
        cents = 500 + (n * 37) % 50_000
        item = {"sku": f"sku-{n % 997}", "category": category, "unit_price": f"{cents / 100:.2f}"}
        event = {
            "type": "purchase",
            "event_id": f"{customer}-1",
            "customer_id": customer,
            "ts": ts,
            "order_id": f"{customer}-o1",
            "total": f"{cents / 100:.2f}",
            "items": [item],
            "context": {"device": device, "channel": "web"},
        }
        yield customer.encode(), json.dumps(event, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Footprint:
    profiles: int
    ingest_per_s: float
    rocksdb_bytes: int
    memory_bytes: int  # resident-memory growth of the worker while it built the profiles
    recovery_s: float  # process start to ready, restoring every profile from the changelog
    empty_start_s: float  # process start to ready without any state (same run)

    @property
    def bytes_per_profile(self) -> float:
        return (self.rocksdb_bytes + self.memory_bytes) / self.profiles


def footprint(settings: Settings, customers: int, work: Path, empty: Settings) -> Footprint:
    """Build ``customers`` profiles with one worker, then time a recovery from the changelog."""
    ensure_topics(settings)
    with workers(settings, 1, work) as group:
        worker = group.processes[0]
        ready_s(readyz(group.stats_urls[0]), alive=group.alive)
        before = rss_bytes(worker.pid)
        send(settings, settings.events_topic, list(purchases(customers, "m")))
        run = follow(group.stats_urls, customers, stack_pids(settings), alive=group.alive)
        grown = max(0, rss_bytes(worker.pid) - before)
    state = rocksdb_bytes(settings.data_dir)
    recovered = settings.data_dir.with_name(f"{settings.data_dir.name}-recovered")
    fresh = settings.model_copy(update={"data_dir": recovered})
    recovery = timed_start(fresh, work)
    return Footprint(customers, run.per_s, state, grown, recovery, timed_start(empty, work))


def timed_start(settings: Settings, work: Path) -> float:
    """Seconds from starting a worker to its ``/readyz`` answering 200."""
    started = time.monotonic()
    with workers(settings, 1, work) as group:
        ready_s(readyz(group.stats_urls[0]), alive=group.alive)
        return time.monotonic() - started


def readyz(stats_url: str) -> str:
    return stats_url.replace("/segstream/stats", "/readyz")


def ready_s(
    url: str, *, alive: Callable[[], bool] = lambda: True, timeout_s: float = 900.0
) -> None:
    """Wait until ``url`` (a worker's ``/readyz``) answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the worker behind {url} exited; see its log")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # loopback only
                if response.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready within {timeout_s:.0f}s")


def rocksdb_bytes(data_dir: Path) -> int:
    """Bytes of table state under ``data_dir``: SST files and write-ahead logs, not text logs."""
    return sum(
        path.stat().st_size
        for path in data_dir.rglob("*")
        if path.is_file() and path.suffix in {".sst", ".log"} and not path.name.startswith("LOG")
    )
