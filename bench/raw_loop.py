"""The hand-rolled baseline: the worker's work on the same events, without Faust or durability.

    python -m bench.raw_loop --topic TOPIC --events N --key-prefix PREFIX [--rules-dir DIR]
                             [--model SNAPSHOT_FILE]              -> one JSON line on stdout

Kafka and Redis are the SEGSTREAM_* environment's, as the worker's. One plain loop:

* one aiokafka consumer reads every partition of the events topic from the start, without a
  consumer group (nothing to join or commit), up to ``SEGSTREAM_BATCH_MAX_EVENTS`` records a poll;
* each poll goes through the worker's own ``BatchProcessor.process``: the same decoder
  (``streams.events``), profile code (``streams.profile``), rules and, given ``--model``, the same
  cluster assignment, with profiles encoded into a dict instead of a RocksDB table;
* each poll's changes go to Redis in one pipeline, through the worker's ``RedisWriter``: the same
  ``write_customer.lua`` (the same keys, member counters and Redis change feed), versioned by a
  poll counter instead of an envelope's offset.

Left out, and so measured as the worker's overhead over this loop: Faust, the rebatcher and its
envelopes, the changelog, the Kafka change feed, cluster samples and dead letters sent to Kafka,
timers. The clock and the CPU time (``time.process_time``: every thread of this process) start
when the first records arrive, and count them: start-up and the wait for the first fetch are left
out, as the worker's run is read from the first sample that sees events applied (bench/meter.py).
(Leaving out the first poll instead, as ``bench.raw_consume`` does, left nothing to time when
one poll held a whole small topic.)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from bench.ops_overhead import MemoryStore

# The transport baseline's way to find a topic's partitions with a fresh client, not a copy of it.
from bench.raw_consume import _partitions
from models.features import FeatureExtractor
from models.segments import ClusterSegments
from models.snapshot import ClusterSnapshot
from rules.active import ActiveRules
from streams.kafka_security import security_options
from streams.ops.gc_pauses import GcPauses
from streams.pipeline.batch import BatchProcessor, InputRecord
from streams.pipeline.cache import ProfileCache
from streams.settings import Settings
from streams.sink.redis_writer import RedisWriter, SinkLimits, connect
from streams.worker import GC_THRESHOLDS, load_configured_rules

IDLE_TIMEOUT_S = 60.0  # no record for this long: the topic holds fewer events than asked for


@dataclass(frozen=True, slots=True)
class Measurement:
    """Events processed from the first poll on, and the wall and CPU time they took."""

    events: int
    seconds: float
    cpu_seconds: float
    applied: int  # events the pipeline applied (not rejected, not repeats), whole run

    @property
    def per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_event(self) -> float:
        return self.cpu_seconds / max(self.events, 1) * 1e6

    def to_json(self) -> str:
        return json.dumps(
            asdict(self) | {"per_s": self.per_s, "cpu_us_per_event": self.cpu_us_per_event}
        )


def input_records(
    polled: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]],
) -> list[InputRecord[None]]:
    """One poll's records as the pipeline takes them, partition by partition."""
    return [
        InputRecord(r.key, r.value, tp.topic, tp.partition, r.offset, None)
        for tp, records in polled.items()
        for r in records
    ]


def processor(settings: Settings, model: ClusterSnapshot | None) -> BatchProcessor[None]:
    """The worker's pipeline as streams/app.py configures it, over a dict of profiles."""
    clusters = None
    if model is not None:
        clusters = ClusterSegments(
            FeatureExtractor.parse(settings.cluster_features),
            min_sessions=settings.cluster_min_sessions,
            sample_rate=settings.cluster_sample_rate,
            current=lambda: model,
        )
    return BatchProcessor(
        store=MemoryStore(),
        rules=ActiveRules(load_configured_rules(settings)),
        max_event_bytes=settings.max_event_bytes,
        cache=ProfileCache(settings.profile_cache_size),
        recheck_s=settings.rules_recheck_s,
        clusters=clusters,
        cluster_holdout=settings.cluster_holdout,
    )


class RawLoop:
    """Poll, process, write: one Redis pipeline per poll."""

    def __init__(self, settings: Settings, model: ClusterSnapshot | None) -> None:
        self.settings = settings
        self.processor = processor(settings, model)
        limits = SinkLimits.from_settings(settings)
        self.writer = RedisWriter(connect(settings), settings.redis_key_prefix, limits)
        self.polls = 0
        self.applied = 0

    async def apply(self, records: list[InputRecord[None]], partition: int) -> None:
        """Process one partition's records of a poll and write their changes in one Redis
        pipeline, as the worker does one envelope's (whose events are one partition's)."""
        now = time.time()
        outcome = self.processor.process(records, now)
        self.polls += 1
        await self.writer.publish(
            outcome.changes,
            outcome.purchases,
            outcome.refreshed,
            partition=partition,
            version=self.polls,
            now=now,
        )
        self.applied += outcome.applied

    async def run(self, topic: str, events: int) -> Measurement:
        consumer = AIOKafkaConsumer(
            **security_options(self.settings),
            bootstrap_servers=self.settings.kafka_servers,
            enable_auto_commit=False,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await consumer.start()
        try:
            partitions = [
                TopicPartition(topic, p) for p in sorted(await _partitions(consumer, topic))
            ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            return await self._timed(consumer, events)
        finally:
            await consumer.stop()
            await self.writer.client.aclose()

    async def _timed(self, consumer: AIOKafkaConsumer, events: int) -> Measurement:
        seen = 0
        started: tuple[float, float] | None = None  # wall and CPU clocks at the first records
        idle_since = time.monotonic()
        while seen < events:
            polled = await consumer.getmany(
                timeout_ms=1000, max_records=self.settings.batch_max_events
            )
            if not any(polled.values()):
                if time.monotonic() - idle_since > IDLE_TIMEOUT_S:
                    raise RuntimeError(f"only {seen} of {events} events arrived")
                continue
            if started is None:
                started = time.monotonic(), time.process_time()
            for tp, partition_records in polled.items():
                records = input_records({tp: partition_records})
                await self.apply(records, tp.partition)
                seen += len(records)
            idle_since = time.monotonic()
        assert started is not None  # events > 0 came
        return Measurement(
            events=seen,
            seconds=time.monotonic() - started[0],
            cpu_seconds=time.process_time() - started[1],
            applied=self.applied,
        )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--key-prefix", required=True, help="Redis keys of this run")
    parser.add_argument("--rules-dir", type=Path)
    parser.add_argument("--model", type=Path, help="a cluster snapshot (JSON) to assign with")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    settings = Settings().model_copy(
        update={"redis_key_prefix": args.key_prefix, "rules_dir": args.rules_dir}
    )
    model = ClusterSnapshot.from_json(args.model.read_bytes()) if args.model else None
    loop = RawLoop(settings, model)
    gc.set_threshold(*GC_THRESHOLDS)  # as the worker runs (streams/worker.py)
    GcPauses().install()  # and with start-up objects frozen, as the worker's
    print(asyncio.run(loop.run(args.topic, args.events)).to_json(), flush=True)


if __name__ == "__main__":
    main()
