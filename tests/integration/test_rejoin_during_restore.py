"""A worker that rejoins while another still restores its tables leaves no committed offset behind.

Seen in a replay: worker A killed while worker B was still restoring its tables, then A restarted
and rejoining during that restore; one batches partition's committed offset then stayed put for
12 minutes (lag 294) although its new envelopes were applied. Lag and alerts showed a backlog that
did not exist, and a later crash would have replayed from there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.scale import purchases
from bench.workload import send
from streams.dependencies import ensure_topics, redis_client
from streams.settings import Settings
from tests.integration.exactness import (
    Truth,
    assert_exact,
    cdnow_purchases,
    delete_keys,
    tier_settings,
)
from tests.integration.harness import (
    WorkerProcess,
    free_port,
    settled_stats,
    wait_drained,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROFILES = 40_000  # one changelog record each: a restore that lasts a few seconds
LATER_EVENTS = 6_000


def worker(settings: Settings, tmp_path: Path, name: str) -> WorkerProcess:
    own = settings.model_copy(update={"data_dir": tmp_path / name, "web_port": free_port()})
    return WorkerProcess(own, tmp_path / f"{name}.log")


def restoring(candidate: WorkerProcess) -> bool:
    """Assigned partitions whose tables have not recovered yet: the rebatcher reads none of them."""
    stats = candidate.stats()
    if stats is None:
        return False
    owned = stats["partitions"]
    return bool(owned["agent"]) and owned["agent"] != owned["rebatcher"]


@pytest.mark.usefixtures("cdnow")
def test_a_worker_rejoining_during_a_restore_leaves_every_committed_offset_at_the_end(
    stack: Settings, tmp_path: Path, processes: list[WorkerProcess]
) -> None:
    settings = tier_settings(stack, tmp_path)
    ensure_topics(settings)
    first = list(purchases(PROFILES, "r"))
    a = worker(settings, tmp_path, "a")
    processes.append(a.start())
    a.wait_ready()
    send(settings, settings.events_topic, first)
    wait_drained(settings, timeout_s=300)

    b = worker(settings, tmp_path, "b")
    processes.append(b.start())
    wait_until(lambda: restoring(b) or None, timeout_s=120, what="b restoring its tables")
    a.kill()  # while b restores
    again = worker(settings, tmp_path, "a")  # same data directory
    processes.append(again.start())
    later = cdnow_purchases(LATER_EVENTS)
    send(settings, settings.events_topic, later)

    partitions = settings.topic_partitions
    wait_until(lambda: settled_stats([again, b], partitions), timeout_s=240, what="an assignment")
    # Every event applied, and every batches partition's committed offset at its end: the wait
    # fails unless both groups' committed offsets all reach their partitions' ends.
    wait_drained(settings, timeout_s=300)
    conn = redis_client(settings)
    try:
        assert_exact(settings, Truth.of(first + later), conn)
    finally:
        delete_keys(conn, settings.redis_key_prefix)
        conn.close()
