"""CPU microseconds per event of the pure pipeline, ``BatchProcessor.process`` alone.

    .venv/bin/python -m bench.pipeline        -> pipeline_us_per_event in bench/results.json

The same simulated sessions and 20 rules as the worker's throughput benchmark, split by partition
(Kafka's murmur2 of the key, 8 partitions) into envelopes of ``ENVELOPE`` events as the rebatcher
makes them on a backlog, over an in-memory store. What the worker spends per event beyond this is
Faust, Kafka, RocksDB and Redis (bench/RESULTS.md compares the two).
"""

from __future__ import annotations

import gc
import time
from collections import defaultdict

from bench.harness import merge_results
from bench.ops_overhead import MemoryStore
from bench.throughput import RULES_DIR
from bench.workload import simulated_events
from rules.active import ActiveRules
from rules.loader import load_rules, rule_files
from streams.pipeline.batch import BatchProcessor, InputRecord
from streams.pipeline.cache import ProfileCache
from streams.topics import key_partition
from streams.worker import GC_THRESHOLDS

PARTITIONS = 8
ENVELOPE = 250  # events per envelope: 2000 per poll (SEGSTREAM_BATCH_MAX_EVENTS) over 8 partitions


def envelopes(events: int) -> list[list[InputRecord[None]]]:
    by_partition: dict[int, list[InputRecord[None]]] = defaultdict(list)
    for key, value in simulated_events(events):
        partition = key_partition(key, PARTITIONS)
        records = by_partition[partition]
        records.append(InputRecord(key, value, "events", partition, len(records), None))
    batches = [
        records[start : start + ENVELOPE]
        for records in by_partition.values()
        for start in range(0, len(records), ENVELOPE)
    ]
    return sorted(batches, key=lambda batch: batch[0].offset)  # round-robin, as polls interleave


def cpu_us_per_event(events: int = 150_000, rounds: int = 3) -> float:
    """The least CPU time per event over ``rounds`` runs (each from empty profiles)."""
    work = envelopes(events)
    rules = ActiveRules(load_rules(rule_files(RULES_DIR)))
    gc.set_threshold(*GC_THRESHOLDS)  # as the worker runs
    best = float("inf")
    for _ in range(rounds):
        processor: BatchProcessor[None] = BatchProcessor(
            store=MemoryStore(), rules=rules, max_event_bytes=65_536, cache=ProfileCache(100_000)
        )
        now = time.time()
        started = time.process_time()
        for batch in work:
            processor.process(batch, now)
        best = min(best, time.process_time() - started)
    return best / sum(len(batch) for batch in work) * 1e6


def main() -> None:
    us = cpu_us_per_event()
    print(f"pipeline: {us:.1f} us CPU per event ({1e6 / us:,.0f} events/s on one core)")
    merge_results({"pipeline_us_per_event": round(us, 1)})


if __name__ == "__main__":
    main()
