"""Event-to-Redis latency at fractions of the measured maximum throughput.

A paced producer sends simulated shopper sessions at a fixed rate to a running worker (20 rules);
one event in ``PROBE_EVERY`` is a probe: a ``traits`` event of a customer never seen before, living
in Germany, so the worker must publish them into the ``dach_shoppers`` segment. The producer notes
the wall-clock time at which it creates each probe; Redis stamps the change-feed entry the worker's
write adds (``XADD *`` ids are Redis' clock in ms, on this machine). Latency = entry time - creation
time: the producer's batching, Kafka, the rebatcher, the agent's batch and the Redis write, all in.
The producer runs in this process and shares the CPU with the worker, as a shop's would not.

Each probe's latency is also split at the moment the rebatcher sent the envelope that carried it
(the envelope's Kafka time stamp, this machine's clock too): before it, the probe waited for Kafka,
the rebatcher's fetch and the end of the round in progress; after it, for Kafka again, the
envelopes ahead of its own in the round, the agent and the Redis write.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import redis
from aiokafka import AIOKafkaProducer
from kafka import KafkaConsumer, TopicPartition

from bench.harness import read_count
from bench.meter import cpu_seconds
from streams.dependencies import redis_client
from streams.ingest.envelope import Kind, unpack
from streams.kafka_security import aiokafka_options, kafka_python_options
from streams.settings import Settings
from streams.sink.redis_keys import changes_key
from streams.topics import batches_topic
from tests.integration.harness import wait_until

PROBE_EVERY = 50
PROBE_SEGMENT = "dach_shoppers"
TICK_S = 0.005  # the producer tops up to the target count this often
ENVELOPE_READ_TIMEOUT_S = 60.0
STAGES = ("to_envelope", "envelope_to_redis")  # a probe's latency, split where its envelope left


@dataclass(frozen=True, slots=True)
class WorkerLoad:
    """What the worker spent on one paced run, from the run's start until the worker caught up.

    >>> load = WorkerLoad(seconds=10.0, cpu_s=7.0, events=20_000, envelopes=1_000)
    >>> (load.cores, load.envelopes_per_s, load.events_per_envelope, load.cpu_ms_per_envelope)
    (0.7, 100.0, 20.0, 7.0)
    >>> load.describe()
    'worker 0.70 cores, 100 envelopes/s, 20.0 events and 7.00 CPU ms each'
    """

    seconds: float
    cpu_s: float  # all of the worker's threads
    events: int
    envelopes: int  # each one Faust message, Redis pipeline and changelog write for the agent

    @property
    def cores(self) -> float:
        return self.cpu_s / self.seconds if self.seconds > 0 else math.nan

    @property
    def envelopes_per_s(self) -> float:
        return self.envelopes / self.seconds if self.seconds > 0 else math.nan

    @property
    def events_per_envelope(self) -> float:
        return self.events / self.envelopes if self.envelopes else math.nan

    @property
    def cpu_ms_per_envelope(self) -> float:
        return self.cpu_s * 1000 / self.envelopes if self.envelopes else math.nan

    def describe(self) -> str:
        """One line for a benchmark's log."""
        return (
            f"worker {self.cores:.2f} cores, {self.envelopes_per_s:,.0f} envelopes/s, "
            f"{self.events_per_envelope:.1f} events and {self.cpu_ms_per_envelope:.2f} CPU ms each"
        )


@dataclass(frozen=True, slots=True)
class Level:
    """Latency percentiles (ms) of one paced run, or of several at the same load pooled."""

    fraction: float  # of the maximum throughput
    target_per_s: float
    sent_per_s: float  # what the producer achieved
    probes: int
    latencies: tuple[float, ...]  # of the probes found in the change feed, ascending
    # This process' CPU per event it sent: the same work in every run at one rate, so a higher
    # figure means a slower machine (other tenants), which every process here, the worker too, felt.
    pacer_cpu_us_per_event: float
    worker: WorkerLoad | None = None  # when the worker's pid was given
    # The same probes' latencies split where the rebatcher sent their envelope, each ascending;
    # their percentiles do not add up to the total's.
    to_envelope: tuple[float, ...] = ()
    envelope_to_redis: tuple[float, ...] = ()

    @property
    def seen(self) -> int:
        return len(self.latencies)

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies, 0.50)

    @property
    def p95_ms(self) -> float:
        return percentile(self.latencies, 0.95)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 0.99)

    def stage_ms(self, stage: str, fraction: float) -> float:
        """A percentile of ``to_envelope`` or ``envelope_to_redis``."""
        values: tuple[float, ...] = getattr(self, stage)
        return percentile(values, fraction)


def pooled(levels: Sequence[Level]) -> Level:
    """Runs at one load as one run: every probe counts once, so the p99 of three 15 s runs rests
    on three times as many probes, not on whichever run met a slow minute.

    >>> def run(latencies: tuple[float, ...], pacer_us: float) -> Level:
    ...     load = WorkerLoad(seconds=10.0, cpu_s=5.0, events=1_000, envelopes=100)
    ...     return Level(0.5, 100.0, 100.0, 2, latencies, pacer_us, load)
    >>> both = pooled([run((10.0, 30.0), 40.0), run((20.0, 200.0), 60.0)])
    >>> both.latencies, both.probes, both.pacer_cpu_us_per_event, both.p99_ms
    ((10.0, 20.0, 30.0, 200.0), 4, 50.0, 200.0)
    >>> both.to_envelope, both.stage_ms("envelope_to_redis", 0.5)  # runs without a split
    ((), nan)
    >>> both.worker.describe()
    'worker 0.50 cores, 10 envelopes/s, 10.0 events and 50.00 CPU ms each'
    """
    first = levels[0]
    loads = [level.worker for level in levels if level.worker is not None]
    worker = None
    if loads:
        worker = WorkerLoad(
            seconds=sum(load.seconds for load in loads),
            cpu_s=sum(load.cpu_s for load in loads),
            events=sum(load.events for load in loads),
            envelopes=sum(load.envelopes for load in loads),
        )
    return Level(
        fraction=first.fraction,
        target_per_s=first.target_per_s,
        sent_per_s=sum(level.sent_per_s for level in levels) / len(levels),
        probes=sum(level.probes for level in levels),
        latencies=_merged(levels, "latencies"),
        pacer_cpu_us_per_event=sum(lv.pacer_cpu_us_per_event for lv in levels) / len(levels),
        worker=worker,
        to_envelope=_merged(levels, "to_envelope"),
        envelope_to_redis=_merged(levels, "envelope_to_redis"),
    )


def _merged(levels: Sequence[Level], name: str) -> tuple[float, ...]:
    """One ascending tuple of the levels' ``name`` values."""
    return tuple(sorted(chain.from_iterable(getattr(level, name) for level in levels)))


def probe_event(customer: str, now: float) -> tuple[bytes, bytes]:
    event = {
        "type": "traits",
        "event_id": f"{customer}-probe",
        "customer_id": customer,
        "ts": datetime.fromtimestamp(now, UTC).isoformat(),
        "traits": {"country": "DE"},
    }
    return customer.encode(), json.dumps(event, separators=(",", ":")).encode()


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence (nan when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True, slots=True)
class Paced:
    created: dict[str, float]  # probe customer -> wall-clock time it was created
    sent: int
    per_s: float
    cpu_s: float  # this process' CPU time while pacing

    @property
    def cpu_us_per_event(self) -> float:
        return self.cpu_s * 1e6 / self.sent if self.sent else math.nan


async def pace(
    settings: Settings,
    background: Iterator[tuple[bytes, bytes]],
    rate: float,
    seconds: float,
    probe_prefix: str,
) -> Paced:
    """Send ``rate`` events/s for ``seconds``: ``background`` events with a probe every
    ``PROBE_EVERY``, topped up every ``TICK_S`` to the count due by then."""
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all", linger_ms=1)
    await producer.start()
    created: dict[str, float] = {}
    sent = 0
    cpu_started = time.process_time()
    try:
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            while sent < int(elapsed * rate):
                if sent % PROBE_EVERY == 0:
                    customer = f"{probe_prefix}{sent:09d}"
                    created[customer] = time.time()
                    key, value = probe_event(customer, created[customer])
                else:
                    key, value = next(background)
                await producer.send(settings.events_topic, value, key=key)
                sent += 1
            await asyncio.sleep(TICK_S)
        per_s = sent / (time.monotonic() - started)
        await producer.flush()
    finally:
        await producer.stop()
    return Paced(created, sent, per_s, time.process_time() - cpu_started)


def feed_times(
    client: redis.Redis, prefix: str, since_ms: int, probe_prefix: str, partitions: int
) -> dict[str, int]:
    """Redis ms stamp of each probe customer's entry into the probe segment since ``since_ms``."""
    found: dict[str, int] = {}
    for partition in range(partitions):
        _partition_feed_times(client, changes_key(prefix, partition), since_ms, probe_prefix, found)
    return found


def _partition_feed_times(
    client: redis.Redis, key: str, since_ms: int, probe_prefix: str, found: dict[str, int]
) -> None:
    start = f"{since_ms}-0"
    while True:
        entries: Any = client.xrange(key, min=start, max="+", count=10_000)
        for entry_id, fields in entries:
            customer = fields[b"customer"].decode()
            if (
                customer.startswith(probe_prefix)
                and fields[b"segment"] == PROBE_SEGMENT.encode()
                and fields[b"direction"] == b"enter"
            ):
                found.setdefault(customer, int(entry_id.split(b"-")[0]))
        if len(entries) < 10_000:
            return
        start = "(" + entries[-1][0].decode()


def probe_departures(envelopes: Iterable[tuple[int, bytes]], probe_prefix: str) -> dict[str, int]:
    """When the rebatcher sent each probe on: the earliest time stamp (ms) of an events envelope
    holding it, from (time stamp, envelope bytes) pairs of the batches topic.

    >>> from streams.ingest.envelope import Envelope, SourceRecord, pack
    >>> def envelope(*keys: bytes) -> bytes:
    ...     records = [SourceRecord(0, n, key, b"{}") for n, key in enumerate(keys)]
    ...     return pack(Envelope(Kind.EVENTS, "events", records))
    >>> timers = pack(Envelope(Kind.REEVALUATE, "timers", [SourceRecord(0, -1, b"p-1", b"")]))
    >>> probe_departures(
    ...     [(1_500, timers), (2_000, envelope(b"b-7", b"p-1")), (1_900, envelope(b"p-2"))], "p-"
    ... )
    {'p-1': 2000, 'p-2': 1900}
    """
    sent: dict[str, int] = {}
    for stamp, raw in envelopes:
        envelope = unpack(raw)
        if envelope.kind != Kind.EVENTS:
            continue  # re-evaluations and identity messages name customers the agent sent
        for record in envelope.records:
            key = (record.key or b"").decode(errors="replace")
            if key.startswith(probe_prefix):
                sent[key] = min(stamp, sent.get(key, stamp))
    return sent


def envelope_stamps(settings: Settings, since_ms: int) -> Iterator[tuple[int, bytes]]:
    """(time stamp, value) of every envelope the batches topic received since ``since_ms``."""
    topic = batches_topic(settings)
    consumer = KafkaConsumer(**kafka_python_options(settings), enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        ends = consumer.end_offsets(partitions)
        starts = consumer.offsets_for_times(dict.fromkeys(partitions, since_ms))
        for tp in partitions:
            start = starts.get(tp)
            consumer.seek(tp, start.offset if start is not None else ends[tp])
        deadline = time.monotonic() + ENVELOPE_READ_TIMEOUT_S
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} took over {ENVELOPE_READ_TIMEOUT_S:.0f} s")
            for records in consumer.poll(timeout_ms=500).values():
                yield from ((record.timestamp, record.value) for record in records)
    finally:
        consumer.close()


def run_level(
    settings: Settings,
    *,
    stats_url: str,
    background: Iterator[tuple[bytes, bytes]],
    fraction: float,
    max_rate: float,
    seconds: float,
    worker_pid: int | None = None,
    probe_prefix: str | None = None,
) -> Level:
    """One paced run at ``fraction`` of ``max_rate``; waits until the worker has caught up.

    Probes are new customers named ``probe_prefix`` + a number, so a second run at the same
    fraction needs a prefix of its own.
    """
    client = redis_client(settings)
    probe_prefix = probe_prefix or f"probe{round(fraction * 100)}-"
    before = read_count(stats_url) or 0
    envelopes_before = (read_count(stats_url, "envelopes") or 0) if worker_pid else 0
    cpu_before = cpu_seconds(worker_pid) if worker_pid else 0.0
    started = time.monotonic()
    since_ms = int(time.time() * 1000)
    rate = fraction * max_rate
    paced = asyncio.run(pace(settings, background, rate, seconds, probe_prefix))
    wait_until(
        lambda: (read_count(stats_url) or 0) >= before + paced.sent,
        timeout_s=300,
        what="the worker to catch up",
    )
    worker = None
    if worker_pid:
        worker = WorkerLoad(
            seconds=time.monotonic() - started,
            cpu_s=cpu_seconds(worker_pid) - cpu_before,
            events=paced.sent,
            envelopes=(read_count(stats_url, "envelopes") or 0) - envelopes_before,
        )
    stamps: dict[str, int] = {}
    deadline = time.monotonic() + 30
    while len(stamps) < len(paced.created) and time.monotonic() < deadline:
        stamps = feed_times(
            client, settings.redis_key_prefix, since_ms, probe_prefix, settings.topic_partitions
        )
        time.sleep(0.2)
    created = paced.created
    latencies = sorted(stamps[c] - created[c] * 1000 for c in stamps if c in created)
    departed = probe_departures(envelope_stamps(settings, since_ms), probe_prefix)
    split = [c for c in stamps if c in created and c in departed]
    return Level(
        fraction=fraction,
        target_per_s=rate,
        sent_per_s=paced.per_s,
        probes=len(created),
        latencies=tuple(latencies),
        pacer_cpu_us_per_event=paced.cpu_us_per_event,
        worker=worker,
        to_envelope=tuple(sorted(departed[c] - created[c] * 1000 for c in split)),
        envelope_to_redis=tuple(sorted(float(stamps[c] - departed[c]) for c in split)),
    )
