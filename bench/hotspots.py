"""Where a busy worker's time goes: py-spy samples of its event-loop thread, in named categories.

py-spy (a sampling profiler, pinned in the dev extra) reads the worker's stacks from outside at
``RATE`` Hz while it works through a backlog; it slows the worker by a few percent, so the
throughput measurement runs without it. Each sample is charged to the first category whose marker
appears in its stack, so the categories are disjoint and add up to the thread's time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

RATE = 200  # samples per second

# (category, markers): checked in this order; the first category with a marker in the stack wins.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("waiting for I/O (idle)", ("EpollSelector.select",)),
    ("event validation (pydantic)", ("decode_event (",)),
    ("profile updates", ("apply_event (",)),
    ("rule evaluation", ("BatchProcessor._members (",)),
    ("timers (next rule change)", ("BatchProcessor._due (",)),
    ("cluster assignment", ("(models/",)),
    ("profile encode/decode", ("encode_profile (", "decode_profile (")),
    ("pipeline, other", ("BatchProcessor.",)),
    ("table writes + changelog", ("FaustTableStore.flush", "ProducerBuffer", "_on_changelog_sent")),
    ("Redis writes", ("RedisWriter.", "redis/")),
    ("change feed (Kafka)", ("Segstream._send_feed",)),
    ("envelope unpacking", ("Segstream.handle_envelope",)),
    ("rebatcher: consume events", ("AIOKafkaConsumer.getmany",)),
    ("rebatcher: pack + produce", ("Rebatcher.",)),
    ("Kafka client (produce, fetch, network)", ("aiokafka/",)),
    ("Faust consumer and agent", ("faust/", "mode/")),
    ("metrics and web", ("prometheus_client", "aiohttp", "streams/ops")),
    ("asyncio event loop", ("asyncio/",)),
)
OTHER = "other"


@dataclass(frozen=True, slots=True)
class Share:
    category: str
    samples: int
    fraction: float  # of the thread's samples


def py_spy() -> str | None:
    """The py-spy executable next to this Python, or on PATH, or None."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(pid: int, seconds: int, output: Path) -> None:
    """Sample process ``pid`` for ``seconds`` into ``output`` (py-spy's collapsed stacks)."""
    executable = py_spy()
    if executable is None:
        raise RuntimeError("py-spy is not installed (pip install -e '.[dev]')")
    command = [executable, "record", "--pid", str(pid), "--duration", str(seconds)]
    command += ["--rate", str(RATE), "--format", "raw", "--threads", "--idle", "-o", str(output)]
    subprocess.run(command, check=True, capture_output=True, timeout=seconds + 60)


def category(stack: str) -> str:
    for name, markers in CATEGORIES:
        if any(marker in stack for marker in markers):
            return name
    return OTHER


def main_thread_samples(lines: Iterable[str]) -> Iterable[tuple[str, int]]:
    """(stack, samples) of the main thread, which runs the event loop and all of segstream."""
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if stack.startswith("thread (") and "MainThread" in stack.split(";", 1)[0]:
            yield stack, int(count)


def shares(profile: Path) -> list[Share]:
    """Categories of the main thread's samples, largest first."""
    counts: Counter[str] = Counter()
    for stack, samples in main_thread_samples(profile.read_text().splitlines()):
        counts[category(_strip_lines(stack))] += samples
    total = sum(counts.values()) or 1
    return [Share(name, n, n / total) for name, n in counts.most_common()]


def _strip_lines(stack: str) -> str:
    return re.sub(r":\d+\)", ")", stack)
