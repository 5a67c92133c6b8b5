"""Consumer lag of segstream's two consumer groups, read with kafka-python, and catch-up estimates.

Lag is counted against *committed* offsets, the ones a restarted worker resumes from: the
rebatchers' group ``{app_id}-ingest`` on the events topic and the Faust agents' group ``{app_id}``
on the batches topic. A partition without a commit yet lags by everything still in it.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from streams.dependencies import kafka_unreachable
from streams.errors import UnavailableError
from streams.kafka_login import raise_if_refused
from streams.kafka_security import kafka_python_options
from streams.settings import Settings
from streams.topics import batches_topic, ingest_group

T = TypeVar("T")

# Committed offsets trail what a running group has done by up to a commit interval (Faust's agents
# commit every 2.8 s, the rebatcher every 0.5 s) plus a round, so a group that keeps up still shows
# some lag at any instant. A lag the group consumes within this many seconds is that: in flight.
IN_FLIGHT_S = 5.0


class LagError(UnavailableError):
    """Kafka did not answer a lag query."""


@dataclass(frozen=True, slots=True)
class PartitionLag:
    partition: int
    end: int  # log end offset
    committed: int | None  # next offset the group reads; None: never committed
    lag: int


@dataclass(frozen=True, slots=True)
class GroupLag:
    group: str
    topic: str
    partitions: tuple[PartitionLag, ...]

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def end_total(self) -> int:
        return sum(p.end for p in self.partitions)

    @property
    def consumed_total(self) -> int:
        """Offsets the group has moved past (log end minus lag), to measure its consume rate."""
        return self.end_total - self.total


@dataclass(frozen=True, slots=True)
class CatchUp:
    consume_rate: float  # messages/s the group committed over the interval
    produce_rate: float  # messages/s appended to the topic over the interval
    seconds: float | None  # None: lag is not shrinking; 0: caught up (none, or only in flight)

    def describe(self, lag: int) -> str:
        rates = f"consuming {self.consume_rate:,.0f}/s, producing {self.produce_rate:,.0f}/s"
        if lag == 0:
            return f"caught up ({rates})"
        if self.seconds == 0:
            return f"caught up: lag {lag:,} is in flight ({rates})"
        if self.seconds is None:
            return f"not catching up ({rates})"
        return f"caught up in about {_duration(self.seconds)} ({rates})"


def group_lag(
    group: str,
    topic: str,
    ends: Mapping[int, int],
    starts: Mapping[int, int],
    committed: Mapping[int, int],
) -> GroupLag:
    """Lag per partition from log end, log start and committed offsets (by partition number)."""
    partitions = []
    for partition in sorted(ends):
        end, done = ends[partition], committed.get(partition)
        position = done if done is not None else starts.get(partition, 0)
        partitions.append(PartitionLag(partition, end, done, max(end - position, 0)))
    return GroupLag(group, topic, tuple(partitions))


def estimate_catch_up(before: GroupLag, after: GroupLag, elapsed_s: float) -> CatchUp:
    """Rates over the interval between two readings, and how long the lag left would take: 0
    when there is none, or no more than the group consumes in IN_FLIGHT_S (keeping up)."""
    if elapsed_s <= 0:
        raise ValueError("elapsed_s must be positive")
    consume = (after.consumed_total - before.consumed_total) / elapsed_s
    produce = (after.end_total - before.end_total) / elapsed_s
    shrinking = consume - produce
    if after.total == 0 or after.total <= consume * IN_FLIGHT_S:
        seconds: float | None = 0.0
    elif shrinking > 0:
        seconds = after.total / shrinking
    else:
        seconds = None
    return CatchUp(consume, produce, seconds)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def watched_groups(settings: Settings) -> list[tuple[str, str]]:
    """(consumer group, topic) pairs whose lag matters, upstream first."""
    return [
        (ingest_group(settings), settings.events_topic),
        (settings.app_id, batches_topic(settings)),
    ]


class LagReader:
    """Reads lag of every watched group; blocking (kafka-python), so workers call it in a thread."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._consumer: Any = None
        self._admin: Any = None

    def read(self) -> list[GroupLag]:
        return self._asking(
            lambda: [self._read_group(g, t) for g, t in watched_groups(self._settings)]
        )

    def messages_in(self, topic: str) -> int:
        """Messages currently held by ``topic`` (log end minus log start, over its partitions)."""

        def count() -> int:
            numbers = self._consumer.partitions_for_topic(topic) or set()
            partitions = [TopicPartition(topic, n) for n in numbers]
            ends = self._consumer.end_offsets(partitions)
            starts = self._consumer.beginning_offsets(partitions)
            return sum(ends[tp] - starts[tp] for tp in partitions)

        return self._asking(count)

    def _asking(self, question: Callable[[], T]) -> T:
        try:
            if self._consumer is None:
                self._connect()
            return question()
        except (KafkaError, ssl.SSLError) as exc:
            self.close()  # reconnect on the next question
            raise_if_refused(self._settings, exc)
            raise LagError(kafka_unreachable(self._settings, exc)) from exc

    def _connect(self) -> None:
        kafka = kafka_python_options(self._settings)
        client_id = f"{self._settings.app_id}-lag"
        self._consumer = KafkaConsumer(
            **kafka, group_id=None, enable_auto_commit=False, client_id=client_id
        )
        self._admin = KafkaAdminClient(**kafka, client_id=client_id, request_timeout_ms=10_000)

    def _read_group(self, group: str, topic: str) -> GroupLag:
        numbers = self._consumer.partitions_for_topic(topic) or set()
        partitions = [TopicPartition(topic, n) for n in sorted(numbers)]
        ends = self._consumer.end_offsets(partitions)
        starts = self._consumer.beginning_offsets(partitions)
        offsets = self._admin.list_consumer_group_offsets(group)
        committed = {
            tp.partition: meta.offset
            for tp, meta in offsets.items()
            if tp.topic == topic and meta.offset >= 0
        }
        return group_lag(
            group,
            topic,
            {tp.partition: ends[tp] for tp in partitions},
            {tp.partition: starts[tp] for tp in partitions},
            committed,
        )

    def close(self) -> None:
        for client in (self._consumer, self._admin):
            if client is not None:
                client.close()
        self._consumer = self._admin = None


def measure(settings: Settings, interval_s: float) -> tuple[list[GroupLag], list[CatchUp | None]]:
    """Lag now; with ``interval_s`` > 0, read twice that far apart and estimate catching up."""
    reader = LagReader(settings)
    try:
        first = reader.read()
        if interval_s <= 0:
            return first, [None] * len(first)
        started = time.monotonic()
        time.sleep(interval_s)
        second = reader.read()
        elapsed = time.monotonic() - started
    finally:
        reader.close()
    return second, [estimate_catch_up(a, b, elapsed) for a, b in zip(first, second, strict=True)]


def format_lag(groups: Sequence[GroupLag], estimates: Sequence[CatchUp | None]) -> str:
    lines = [f"{'group':<28} {'topic':<32} {'part':>4} {'end':>10} {'committed':>10} {'lag':>8}"]
    for group, estimate in zip(groups, estimates, strict=True):
        for p in group.partitions:
            committed = "-" if p.committed is None else str(p.committed)
            lines.append(
                f"{group.group:<28} {group.topic:<32} {p.partition:>4} {p.end:>10} "
                f"{committed:>10} {p.lag:>8}"
            )
        summary = f"{group.group}: total lag {group.total:,}"
        if estimate is not None:
            summary += f"; {estimate.describe(group.total)}"
        lines.append(summary)
    lines.append(f"total lag {sum(g.total for g in groups):,}")
    return "\n".join(lines)


def lag_json(groups: Sequence[GroupLag], estimates: Sequence[CatchUp | None]) -> dict[str, Any]:
    return {
        "groups": [
            {
                "group": g.group,
                "topic": g.topic,
                "total": g.total,
                "partitions": [
                    {"partition": p.partition, "end": p.end, "committed": p.committed, "lag": p.lag}
                    for p in g.partitions
                ],
                "catch_up": None
                if e is None
                else {"consume_rate": e.consume_rate, "produce_rate": e.produce_rate,
                      "seconds": e.seconds},
            }
            for g, e in zip(groups, estimates, strict=True)
        ],
        "total": sum(g.total for g in groups),
    }  # fmt: skip
