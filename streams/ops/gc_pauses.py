"""Keeping the garbage collector's pauses short in a worker that holds many long-lived profiles.

CPython's collector scans every object of the generations it collects. A worker's profile cache
holds tens of objects per customer (the profile, its bucket rows, its lists), which all end up in
the oldest generation, so each full collection scanned them all: measured on the latency benchmark
(20,000 simulated customers, 4,000 events/s), full collections stopped the worker for 150-360 ms
about once a minute, and one of them during a latency run set that run's p99. With a larger cache
the pause grows with it.

Here, whatever survives a collection moves to the permanent generation (``gc.freeze``), which no
collection scans; collections then only see what was allocated since the last one. Reference
counting frees frozen objects as before (profiles hold no reference cycles); only a reference
cycle whose objects were frozen and which becomes garbage later is never collected. Measured: a
full collection after a 95-second paced run found 629 such objects, all of them start-up leftovers
(argparse and attrs builders), none from steady-state work. :class:`GcPauses` counts the frozen
objects so that such growth would show in the worker's stats.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import Any

# Counting the frozen objects walks all of them (milliseconds for a large cache), and stats may be
# polled often: counting on every poll (the bench polls 10 times a second) raised a busy worker's
# CPU per event by 40-50% in the two runs that had it.
FROZEN_COUNT_MAX_AGE_S = 60.0


@dataclass(slots=True)
class GcPauses:
    """Freezes the survivors of every collection and keeps pause statistics."""

    collections: int = 0
    longest_pause_s: float = 0.0
    total_pause_s: float = 0.0
    _started: float = 0.0
    _installed: bool = False
    _frozen: int = 0
    _frozen_counted_at: float = float("-inf")

    def install(self) -> None:
        """Collect start-up garbage once, freeze what is left, and freeze after every collection.

        >>> pauses = GcPauses()
        >>> pauses.install()
        >>> survivor = [[]]  # container objects are tracked by the collector
        >>> _ = gc.collect(0)
        >>> gc.get_freeze_count() > 0 and pauses.collections >= 1
        True
        >>> pauses.uninstall()
        """
        if self._installed:
            return
        gc.collect()  # start-up garbage is collected, not frozen
        gc.freeze()
        gc.callbacks.append(self._on_collection)
        self._installed = True

    def uninstall(self) -> None:
        """Undo :meth:`install` (for tests): frozen objects become collectable again."""
        if self._installed:
            gc.callbacks.remove(self._on_collection)
            self._installed = False
        gc.unfreeze()

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        self.collections += 1
        self.total_pause_s += pause
        self.longest_pause_s = max(self.longest_pause_s, pause)
        gc.freeze()  # the survivors, now in an older generation, are never scanned again

    def frozen_objects(self) -> int:
        """Objects in the permanent generation, counted at most once a minute."""
        now = time.monotonic()
        if now - self._frozen_counted_at >= FROZEN_COUNT_MAX_AGE_S:
            self._frozen, self._frozen_counted_at = gc.get_freeze_count(), now
        return self._frozen

    def snapshot(self) -> dict[str, float | int]:
        """Counters since start, for the worker's stats."""
        return {
            "collections": self.collections,
            "longest_pause_ms": round(self.longest_pause_s * 1000, 1),
            "total_pause_ms": round(self.total_pause_s * 1000, 1),
            "frozen_objects": self.frozen_objects(),
        }
