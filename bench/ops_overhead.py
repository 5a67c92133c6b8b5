"""What the worker's metrics cost per event, as a ratio to the batch pipeline they observe.

    .venv/bin/python -m bench.ops_overhead   -> ops_metrics_* keys in bench/results.json

The same batches of simulated events go through ``BatchProcessor.process`` alone (the baseline) and
through ``process`` followed by ``WorkerOps``' per-batch recording (freshness of every applied
event, Redis latency), in the same run. Scrape-time work (counters, lag, segment sizes) is not on
the event path and is left out.
"""

from __future__ import annotations

import json
import time

from bench.harness import merge_results
from rules import BUILTIN_RULES
from streams.ops.metrics import Snapshot, WorkerMetrics
from streams.pipeline.batch import BatchProcessor, InputRecord
from streams.pipeline.cache import ProfileCache
from streams.traffic import generate

BATCH = 2000


class MemoryStore:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def load(self, key: str, handle: None) -> bytes | None:
        return self.data.get(key)

    def save(self, key: str, value: bytes, handle: None) -> None:
        self.data[key] = value

    def delete(self, key: str, handle: None) -> None:
        self.data.pop(key, None)


def batches(events: int) -> list[list[InputRecord[None]]]:
    now = time.time()
    records = [
        InputRecord(e.key.encode(), json.dumps(e.payload).encode(), "events", 0, n, None)
        for n, e in enumerate(generate(events // 20, seed=3, start=now - 86_400, days=1))
    ][:events]
    return [records[i : i + BATCH] for i in range(0, len(records), BATCH)]


def run(work: list[list[InputRecord[None]]], metrics: WorkerMetrics) -> tuple[float, float]:
    """(seconds in the pipeline, seconds recording metrics), timed batch by batch."""
    processor: BatchProcessor[None] = BatchProcessor(
        store=MemoryStore(), rules=lambda: BUILTIN_RULES, max_event_bytes=65_536,
        cache=ProfileCache(100_000),
    )  # fmt: skip
    pipeline = recording = 0.0
    for batch in work:
        started = time.perf_counter()
        outcome = processor.process(batch, time.time())
        processed = time.perf_counter()
        metrics.batch_settled(outcome.event_times, 0.001)
        recording += time.perf_counter() - processed
        pipeline += processed - started
    return pipeline, recording


def main() -> None:
    work = batches(60_000)
    events = sum(len(batch) for batch in work)
    metrics = WorkerMetrics(Snapshot)
    # Interleaved per batch, so both parts see the same machine; the quietest of 3 runs.
    pipeline, recording = min((run(work, metrics) for _ in range(3)), key=sum)
    ratio = (pipeline + recording) / pipeline
    per_event_us = recording / events * 1e6
    print(f"{events} events: pipeline {pipeline / events * 1e6:.1f} us/event, metrics "
          f"{per_event_us:.2f} us/event: {ratio:.4f}x the pipeline alone")  # fmt: skip
    merge_results(
        {
            "ops_metrics_overhead_ratio": round(ratio, 4),
            "ops_metrics_us_per_event": round(per_event_us, 3),
        }
    )


if __name__ == "__main__":
    main()
