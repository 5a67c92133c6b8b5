"""A graceful stop under load: SIGTERM ends a busy worker cleanly, every time.

Faust cancels its app's tasks only after it stopped the tables and the producer; the rebatcher,
which applies envelopes through both, used to run on meanwhile, and a stop under load could end
with "We experienced a crash!" and exit code 1 (NotReady: the producer was stopped): 5 of 10 stops
of a worker under simulated traffic did. How often depends on how long Faust's producer takes to
stop, so the test also checks the order that rules it out: the rebatcher stops before the app.
"""

from __future__ import annotations

import itertools
import json
import signal
import time
from pathlib import Path

import pytest

from bench.workload import send
from streams.dependencies import ensure_topics
from streams.faust_fetch import FetchTunedApp
from streams.settings import Settings
from streams.traffic import generate
from tests.integration.harness import WorkerProcess, isolated_settings, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STOPS = 5
BACKLOG = 60_000  # events waiting for each worker: it is busy when it gets SIGTERM
STOP_AFTER = 10_000  # events taken by the worker before it gets SIGTERM: mid-backlog
CRASH = "We experienced a crash"
REBATCHER_STOPPED = "rebatcher stopped"
APP_STOPPING = f"[^-{FetchTunedApp.__name__}]: Stopping..."  # Faust logs the class name


def backlog(run: int) -> list[tuple[bytes, bytes]]:
    """Simulated shoppers' history (many customers), new events in every run."""
    events = generate(20_000, seed=3, start=time.time() - 30 * 86_400, days=30)
    sent = []
    for event in itertools.islice(events, BACKLOG):
        payload = {**event.payload, "event_id": f"run{run}-{event.payload['event_id']}"}
        sent.append((event.key.encode(), json.dumps(payload).encode()))
    return sent


def received(worker: WorkerProcess) -> int | None:
    """Events the worker took since it started; None until it serves."""
    worker._check_alive()
    stats = worker.stats()
    return None if stats is None else int(stats["received"])


def test_sigterm_in_the_middle_of_a_backlog_stops_the_worker_cleanly_every_time(
    stack: Settings, tmp_path: Path
) -> None:
    # As many partitions as a worker has by default: a round applies more envelopes.
    settings = isolated_settings(stack, tmp_path / "worker", topic_partitions=8)
    ensure_topics(settings)
    for stop in range(1, STOPS + 1):
        send(settings, settings.events_topic, backlog(stop))
        worker = WorkerProcess(settings, tmp_path / f"worker-{stop}.log").start()
        try:
            worker.wait_ready()
            done = wait_until(
                lambda w=worker: (received(w) or 0) >= STOP_AFTER,  # type: ignore[misc]
                timeout_s=300,
                what=f"the worker to take {STOP_AFTER} events",
            )
            assert done
            process = worker._process
            assert process is not None
            process.send_signal(signal.SIGTERM)
            code = process.wait(120)
        finally:
            worker.kill()  # only if it still runs
        log = worker.log()
        print(f"stop {stop}: exit {code}, {progress(log)}")
        assert CRASH not in log, worker.tail(80)
        assert code == 0, worker.tail(80)
        # Nothing of the rebatcher's runs while Faust stops the app's tables and producer.
        assert REBATCHER_STOPPED in log
        assert log.index(REBATCHER_STOPPED) < log.index(APP_STOPPING)


def progress(log: str) -> str:
    """The worker's last progress line (events and applied so far), for the test's output."""
    lines = [line for line in log.splitlines() if " applied=" in line]
    return lines[-1].split("] ")[-1] if lines else "-"
