"""Shared by the benchmarks: processes to measure, rate sampling, and bench/results.json."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results.json"


@dataclass(frozen=True, slots=True)
class Rate:
    events: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def read_count(url: str, field: str = "received") -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # loopback only
            count: int = json.load(response)[field]
            return count
    except (OSError, ValueError, KeyError):
        return None


def measure_rate(
    command: Sequence[str], env: dict[str, str], stats_url: str, target: int, log: Path
) -> Rate:
    """Start ``command``, then time it from its first processed event until ``target``.

    The clock starts at the first poll that sees events processed, so start-up and group joins
    are not counted; polling every 0.1 s bounds the error to about 0.2 s per run.
    """
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        first: tuple[float, int] | None = None
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited early; see {log}")
            count = read_count(stats_url)
            now = time.monotonic()
            if count and first is None:
                first = (now, count)
            if first is not None and count is not None and count >= target:
                return Rate(count - first[1], now - first[0])
            time.sleep(0.1)
        raise RuntimeError(f"{command} did not reach {target} events in time; see {log}")
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def merge_results(values: dict[str, Any]) -> dict[str, Any]:
    """Merge ``values`` into bench/results.json, keeping keys other benchmarks wrote."""
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update(values)
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return results
