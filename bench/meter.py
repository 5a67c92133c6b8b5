"""Following running processes: their event counts, CPU seconds and memory, sampled together.

On a 2-core machine the worker, Kafka and Redis share the CPU, so a rate alone does not say which
one ran out of it; CPU seconds per event of each process do (read from ``/proc/<pid>/stat``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.harness import read_count

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far; 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name (field 2) may hold spaces; the fields after its ")" are space-separated.
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` in bytes (0 once it is gone)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * _PAGE_BYTES


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # monotonic seconds
    counts: tuple[int, ...]  # events processed by each followed worker
    cpu: Mapping[str, float]  # CPU seconds by process name

    @property
    def count(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True, slots=True)
class Run:
    """Samples from the first one that saw events to the first one that saw them all."""

    samples: Sequence[Sample]

    @property
    def events(self) -> int:
        return self.samples[-1].count - self.samples[0].count

    @property
    def seconds(self) -> float:
        return self.samples[-1].at - self.samples[0].at

    @property
    def per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def steady(self, settle_s: float = 2.0, until: float = 0.95) -> Run:
        """The part of the run where every worker is consuming: from ``settle_s`` after the last
        worker's first event (its partitions' rebalance is over) to ``until`` of the events, before
        partitions finish one by one."""
        busy = next(s.at for s in self.samples if all(s.counts)) + settle_s
        last = self.samples[0].count + until * self.events
        window = [s for s in self.samples if s.at >= busy and s.count <= last]
        if len(window) < 2:
            raise RuntimeError("too few samples in the steady window: process more events")
        return Run(window)

    def cpu_us_per_event(self) -> dict[str, float]:
        first, last = self.samples[0].cpu, self.samples[-1].cpu
        events = max(self.events, 1)
        return {name: (last[name] - first[name]) / events * 1e6 for name in last}

    def cpu_cores(self) -> dict[str, float]:
        """Cores each process kept busy on average over the run."""
        first, last = self.samples[0].cpu, self.samples[-1].cpu
        return {name: (last[name] - first[name]) / max(self.seconds, 1e-9) for name in last}


def follow(
    stats_urls: Sequence[str],
    target: int,
    pids: Mapping[str, int],
    *,
    alive: Callable[[], bool] = lambda: True,
    timeout_s: float = 900.0,
    interval_s: float = 0.1,
    field: str = "received",
) -> Run:
    """Poll the workers' counts until their sum reaches ``target``; CPU of ``pids`` alongside.

    The run starts at the first sample that sees events, so start-up and group joins are not
    counted; polling every 0.1 s bounds the timing error to about 0.2 s. ``field`` of the stats
    is the count: workers' ``applied`` leaves out events replayed after a rebalance.
    """
    samples: list[Sample] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("a measured process exited early; see its log")
        counts = tuple(read_count(url, field) or 0 for url in stats_urls)
        now = time.monotonic()
        total = sum(counts)
        if total:
            cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
            samples.append(Sample(now, counts, cpu))
            if total >= target:
                return Run(samples)
        time.sleep(interval_s)
    raise RuntimeError(f"{target} events not processed within {timeout_s:.0f}s")
