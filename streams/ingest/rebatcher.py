"""Reads the public events topic with a plain aiokafka consumer and forwards it as envelopes.

Nothing is decoded here: the rebatcher only moves bytes, so it keeps up with the transport. It
reads all the time and holds what it read until the agent handled every envelope of the last round
it sent (:mod:`streams.ingest.pacing`), then forwards each partition's records as the next round.
Offsets of the events topic are committed only after the envelopes carrying them are acknowledged by
the broker (acks=all); after a crash or a rebalance they are sent again, and profiles drop the
repeats by source offset.

Where this worker's own agent owns an envelope's partition, the rebatcher also applies the envelope
itself as soon as Kafka acknowledged it (``apply_local``), instead of waiting for Faust to fetch it
and hand it over: that hop and Faust's per-message path were much of a round's time (one worker at
2,374 events/s: p99 176-313 ms through the agent, 132-154 ms applied here). The envelope is in
Kafka first, so versions, replays and recovery stay those of the agent's path; the agent skips it
when Faust delivers it, and applies whatever the rebatcher left to it. The envelopes the worker
sends itself (identity messages, re-evaluations) go along with the next envelope of events of
their partition, or at the end of the next pass (``begin_pass``, ``end_pass``) if none came.

The rebatcher joins no consumer group: it reads exactly the events partitions whose batches
partitions this worker's agent owns and has recovered (:meth:`Rebatcher.follow`), so every envelope
is applied by the worker that made it, and Faust's group is the only one that rebalances. With a
group of its own, partitions were assigned twice, independently: with two workers every envelope
crossed to the other worker, and after a crash the rebatchers' group rejoined once per dead member,
each time reading nothing until the dead member's session ended (after a second kill -9 the backlog
drained in bursts: seconds at full speed, then seconds at a few events/s with an idle CPU).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from streams.ingest.envelope import Envelope, Kind, Record, pack
from streams.ingest.pacing import AgentProgress
from streams.kafka_security import aiokafka_options
from streams.settings import Settings
from streams.topics import batches_topic, ingest_group

log = logging.getLogger(__name__)

RETRY_S = 1.0
# Offsets are committed at most this often (and whenever the topic runs dry): a commit per poll was
# a broker round trip per few events at moderate rates. Committing later only means a crash re-sends
# more, which profiles drop as repeats.
COMMIT_INTERVAL_S = 0.5
# aiokafka fetches a partition again only once its buffered records are taken, so while partitions
# wait for the agent the buffer is emptied this often: what a partition sends next is then what
# arrived until the agent was ready for it, not what had arrived when it last sent.
DRAIN_INTERVAL_S = 0.005
# The agent handles an envelope within milliseconds; this bounds the wait for one it never handles.
PACING_TIMEOUT_S = 1.0
# A rebatcher with no partition to read checks this often whether it is stopping.
IDLE_WAIT_S = 1.0
# A stopping worker waits this long for the pass under way (see ``Rebatcher.stop``).
STOP_WAIT_S = 10.0
# The broker holds a fetch until it has this much or SEGSTREAM_INGEST_FETCH_WAIT_MS passed.
# Kafka's default (one byte) made a fetch, decoded in Python, per event or two at moderate rates;
# with this and Faust's fetches tuned likewise, a paced worker used about a quarter less CPU at a
# tenth of its maximum rate (numbers in streams.faust_fetch). Events arriving one by one wait up to
# the wait more; a backlog fills the fetches at once. Below this size per wait, the wait sets how
# many fetches and rounds a worker makes a second: at 1,000 events/s, 10 ms (the default) took
# 0.67-0.68 cores with p50 16-17 ms, 60 ms 0.37-0.39 cores with p50 50-51 ms; near the maximum
# rate every wait kept the worker busy (the table is in README, Performance).
FETCH_MIN_BYTES = 64 * 1024
# While nothing arrives, the broker answers the rebatcher's fetch at the first byte, or after this
# long: with the waits above, an idle worker fetched every SEGSTREAM_INGEST_FETCH_WAIT_MS (100
# times a second by default), most of the 0.15 cores it used at rest. The first event after a quiet
# spell comes back at once, and fetches wait for fuller ones again until none arrives.
IDLE_FETCH_WAIT_MS = 500


def consumer_options(settings: Settings) -> dict[str, Any]:
    """The rebatcher's consumer. It joins no group: it reads the partitions it is told to
    (:meth:`Rebatcher.follow`); the group id only names where its offsets are committed.

    >>> options = consumer_options(Settings(app_id="shop"))
    >>> options["group_id"], options["enable_auto_commit"]
    ('shop-ingest', False)
    """
    min_bytes, wait_ms = fetch_sizes(settings)
    return {
        **aiokafka_options(settings),
        "group_id": ingest_group(settings),
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "fetch_min_bytes": min_bytes,
        "fetch_max_wait_ms": wait_ms,
    }


def fetch_sizes(settings: Settings, *, idle: bool = False) -> tuple[int, int]:
    """(fetch_min_bytes, fetch_max_wait_ms): idle, answered at the first byte (or after
    IDLE_FETCH_WAIT_MS); else held for fuller fetches."""
    if idle:
        return 1, IDLE_FETCH_WAIT_MS
    return FETCH_MIN_BYTES, settings.ingest_fetch_wait_ms


class Fetching(Protocol):
    """What aiokafka's fetcher reads each time it builds a fetch request."""

    _fetch_min_bytes: int
    _fetch_max_wait_ms: int


def tune_fetches(fetcher: Fetching, settings: Settings, *, idle: bool) -> None:
    """Set a running consumer's fetch sizes (:func:`fetch_sizes`).

    >>> from types import SimpleNamespace
    >>> fetcher = SimpleNamespace(_fetch_min_bytes=1, _fetch_max_wait_ms=500)
    >>> tune_fetches(fetcher, Settings(), idle=False)
    >>> fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms
    (65536, 10)
    """
    fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms = fetch_sizes(settings, idle=idle)


class Rewindable(Protocol):
    def assignment(self) -> Any: ...

    async def seek_to_committed(self) -> Any: ...


async def rewind_to_committed(consumer: Rewindable) -> None:
    """Read again from the committed offsets of the partitions assigned now. With none assigned
    (a rebalance under way) there is nothing to rewind, and aiokafka would raise an
    AssertionError that ended the rebatcher for good; the next assignment starts from the
    committed offsets anyway."""
    if consumer.assignment():
        await consumer.seek_to_committed()


class LocalApplier(Protocol):
    """What the rebatcher applies itself, in the partitions whose agent runs in this worker."""

    async def apply_local(self, partition: int, offset: int, envelope: Envelope) -> bool:
        """Apply the envelope just sent (as packed, at ``offset``); False leaves it to the agent."""

    def begin_pass(self) -> Mapping[int, int]:
        """A pass begins: the worker's own envelopes waiting now (partition -> last offset)."""

    async def end_pass(self, own: Mapping[int, int]) -> None:
        """The pass ends: apply what of ``own`` no envelope of events took along."""

    async def close(self) -> None:
        """The rebatcher stopped."""


class LocalApplyError(RuntimeError):
    """Applying an envelope in the rebatcher failed; not retried as a Kafka read error would be,
    since the envelope's work may be half done: the worker stops, as an agent failure stops it."""


@dataclass(slots=True)
class RebatcherStats:
    forwarded: int = 0
    envelopes: int = 0
    applied_locally: int = 0  # envelopes the rebatcher applied itself (see ``apply_local``)
    retries: int = 0
    left_to_agent: int = 0  # envelopes ``apply_local`` left to an agent (see its reasons)


def envelopes_for(
    topic: str, records: Sequence[Any], max_bytes: int
) -> Iterator[tuple[bytes, Envelope]]:
    """Pack one partition's records into envelopes of at most about ``max_bytes`` each.

    Yields (envelope bytes, the envelope they hold): the rebatcher applies the second, and so does
    not unpack what it just packed (1.4 us per event of a session envelope).
    """
    chunk: list[Record] = []
    size = 0
    for record in records:  # aiokafka's ConsumerRecords, packed as they are
        record_size = 32 + len(record.key or b"") + len(record.value or b"")
        if chunk and size + record_size > max_bytes:
            envelope = Envelope(Kind.EVENTS, topic, chunk)
            yield pack(envelope), envelope
            chunk, size = [], 0
        chunk.append(record)
        size += record_size
    if chunk:
        envelope = Envelope(Kind.EVENTS, topic, chunk)
        yield pack(envelope), envelope


class Rebatcher:
    def __init__(
        self, settings: Settings, progress: AgentProgress, local: LocalApplier | None = None
    ) -> None:
        self.settings = settings
        self.stats = RebatcherStats()
        self._target = batches_topic(settings)
        self._progress = progress
        self._held: dict[TopicPartition, list[Any]] = {}  # read, waiting for the agent
        # partition -> the last envelope's delivery, and when it was sent
        self._in_flight: dict[int, tuple[asyncio.Future[Any], float]] = {}
        self._delivering: list[tuple[asyncio.Future[Any], TopicPartition, int]] = []
        self._uncommitted: dict[TopicPartition, int] = {}  # forwarded and acknowledged
        self._committed_at = 0.0
        self._local = local
        self._round: list[tuple[int, Envelope, asyncio.Future[Any]]] = []  # sent, not yet applied
        self.feeding: frozenset[int] = frozenset()  # the events partitions this rebatcher reads
        self._wanted: frozenset[int] = frozenset()  # those it is to read (see ``follow``)
        self._wanted_changed = asyncio.Event()
        self._stopping = False
        self._ended: asyncio.Event | None = None  # made when ``run`` starts, set when it ends
        self._fetching_idle = False  # see IDLE_FETCH_WAIT_MS

    def follow(self, partitions: Iterable[int]) -> None:
        """Read these events partitions from now on (the batches partitions this worker's agent
        owns and has recovered); the next pass stops reading the others."""
        self._wanted = frozenset(partitions)
        self._wanted_changed.set()

    async def stop(self) -> None:
        """End after the pass under way (at most ``STOP_WAIT_S``), before Faust stops: Faust
        cancels its app's tasks only after it closed the tables and stopped the producer that a
        pass's local applies use (5 of 10 stops under simulated load crashed: NotReady)."""
        self._stopping = True
        self._wanted_changed.set()  # an idle rebatcher waits for it
        if self._ended is None:
            return  # never started
        try:
            await asyncio.wait_for(self._ended.wait(), STOP_WAIT_S)
        except TimeoutError:
            log.warning("rebatcher: its pass still runs after %.0fs; stopping anyway", STOP_WAIT_S)

    async def run(self) -> None:
        """Forward until stopped; Kafka errors are retried from the last committed offsets."""
        settings = self.settings
        consumer = AIOKafkaConsumer(**consumer_options(settings))
        producer = AIOKafkaProducer(
            **aiokafka_options(settings), acks="all", max_request_size=4 * 1024 * 1024
        )
        self._ended = asyncio.Event()
        try:
            await self._forward(consumer, producer)
        finally:
            self._ended.set()

    async def _forward(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> None:
        await consumer.start()
        await producer.start()
        try:
            while not self._stopping:
                try:
                    await self._pass(consumer, producer)
                except (KafkaError, OSError) as exc:
                    self.stats.retries += 1
                    log.warning("rebatcher: %r; re-reading from committed offsets", exc)
                    self._forget_unsent()
                    await asyncio.sleep(RETRY_S)
                    await rewind_to_committed(consumer)
        finally:
            await consumer.stop()
            await producer.stop()
            if self._local is not None:
                await self._local.close()
            log.info("rebatcher stopped")

    async def _pass(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> None:
        if self._local is None:
            await self._forward_once(consumer, producer)
            return
        own: Mapping[int, int] = self._local.begin_pass()
        try:
            await self._forward_once(consumer, producer)
        except BaseException:
            own = {}  # only ended: the agent must not wait for it
            raise
        finally:
            try:
                await self._local.end_pass(own)
            except (KafkaError, OSError) as exc:  # half done, as in _apply_round: not retried
                message = f"applying this worker's own envelopes failed: {exc!r}"
                raise LocalApplyError(message) from exc

    async def _forward_once(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> None:
        """Read what arrived, forward the partitions the agent is ready for, else wait a little."""
        if not await self._follow_assignment(consumer):
            return
        seen = self._progress.version
        # Idle: block until events arrive. Holding some: only take what is buffered.
        wait_ms = int(self.settings.batch_max_wait_s * 1000) if not self._held else 0
        arrived = await self._take_arrived(consumer, wait_ms)
        self._note_deliveries()
        # All partitions wait for the slowest: fewer, fuller envelopes (see streams.ingest.pacing).
        ready = list(self._held) if all(map(self._ready, list(self._in_flight))) else []
        for tp in ready:
            await self._send(producer, tp, self._held.pop(tp))
        if self._round:
            await self._apply_round(consumer)
        if self._held and not ready:
            await self._progress.wait_for_change(seen, DRAIN_INTERVAL_S)
        since_commit = asyncio.get_running_loop().time() - self._committed_at
        if since_commit >= COMMIT_INTERVAL_S or not (arrived or self._held or self._delivering):
            await self._commit(consumer)

    async def _follow_assignment(self, consumer: AIOKafkaConsumer) -> bool:
        """Read the partitions :meth:`follow` named last; False while there are none (after
        waiting a little for some)."""
        wanted = self._wanted
        if wanted != self.feeding:
            self._note_deliveries()
            await self._commit(consumer)  # what was forwarded from partitions it stops reading
            topic = self.settings.events_topic
            consumer.assign([TopicPartition(topic, partition) for partition in sorted(wanted)])
            self.feeding = wanted
            for tp in [tp for tp in self._held if tp.partition not in wanted]:
                del self._held[tp]  # its new reader reads it from the committed offset
            for partition in [p for p in self._in_flight if p not in wanted]:
                del self._in_flight[partition]  # not this worker's agent's to pace any more
        if wanted:
            return True
        self._wanted_changed.clear()
        if self._wanted or self._stopping:
            return False  # changed while committing: the next pass follows it
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wanted_changed.wait(), IDLE_WAIT_S)
        return False

    async def _take_arrived(self, consumer: AIOKafkaConsumer, wait_ms: int) -> bool:
        """Hold what the consumer fetched (waiting up to ``wait_ms`` for it), as room allows.

        Taking it also lets aiokafka fetch those partitions again, which it does only once their
        buffered records are taken."""
        room = self.settings.batch_max_events - sum(map(len, self._held.values()))
        if room <= 0:
            return False
        batches = await consumer.getmany(timeout_ms=wait_ms, max_records=room)
        for tp, records in batches.items():
            self._held.setdefault(tp, []).extend(records)
        if batches or wait_ms > 0:  # something came, or nothing came in a wait: idle
            self._fetch_as(consumer, idle=not batches)
        return bool(batches)

    def _fetch_as(self, consumer: AIOKafkaConsumer, *, idle: bool) -> None:
        fetcher = getattr(consumer, "_fetcher", None)  # made when the consumer starts
        if idle != self._fetching_idle and fetcher is not None:
            tune_fetches(fetcher, self.settings, idle=idle)
            self._fetching_idle = idle

    def _ready(self, partition: int) -> bool:
        """Nothing sent to ``partition`` awaits the broker or this worker's agent (or it waited
        ``PACING_TIMEOUT_S``: Faust may skip an envelope during a rebalance, and the agent reads it
        back only when the next one arrives)."""
        in_flight = self._in_flight.get(partition)
        if in_flight is None:
            return True
        delivery, sent_at = in_flight
        waited = asyncio.get_running_loop().time() - sent_at
        if waited < PACING_TIMEOUT_S and (
            not delivery.done() or self._progress.behind({partition: delivery.result().offset})
        ):
            return False
        del self._in_flight[partition]
        return True

    async def _send(
        self, producer: AIOKafkaProducer, tp: TopicPartition, records: list[Any]
    ) -> None:
        delivery = None
        for raw, envelope in envelopes_for(tp.topic, records, self.settings.envelope_max_bytes):
            delivery = await producer.send(self._target, value=raw, partition=tp.partition)
            if self._local is not None:
                self._round.append((tp.partition, envelope, delivery))
            self.stats.envelopes += 1
            self.stats.forwarded += len(envelope.records)
        assert delivery is not None  # records is never empty
        self._in_flight[tp.partition] = (delivery, asyncio.get_running_loop().time())
        self._delivering.append((delivery, tp, records[-1].offset + 1))

    async def _apply_round(self, consumer: AIOKafkaConsumer) -> None:
        """Apply the round's envelopes here once Kafka has them all (they share produce requests),
        in the order sent; the partitions whose agent is elsewhere are left to it.

        What arrives meanwhile is taken after every envelope: left in aiokafka's buffer until the
        round ended, it stopped the next fetch, and events arriving during a round waited for the
        round after next (measured at half the maximum rate: to the envelope p50 35 ms, ~2 rounds).
        """
        sent, self._round = self._round, []
        assert self._local is not None  # only then is anything in the round
        offsets = [(await delivery).offset for _, _, delivery in sent]
        for (partition, envelope, _), offset in zip(sent, offsets, strict=True):
            try:
                applied = await self._local.apply_local(partition, offset, envelope)
            except (KafkaError, OSError) as exc:
                message = f"applying envelope {offset} of partition {partition} failed: {exc!r}"
                raise LocalApplyError(message) from exc
            if applied:
                self.stats.applied_locally += 1
                self._progress.handled(partition, offset)
            else:
                self.stats.left_to_agent += 1
            await self._take_arrived(consumer, 0)

    def _note_deliveries(self) -> None:
        """Move acknowledged envelopes' offsets to the uncommitted ones; raise a failed send."""
        pending = []
        for delivery, tp, next_offset in self._delivering:
            if not delivery.done():
                pending.append((delivery, tp, next_offset))
                continue
            delivery.result()  # a failed send raises here: retried from the committed offsets
            self._uncommitted[tp] = max(next_offset, self._uncommitted.get(tp, 0))
        self._delivering = pending

    def _forget_unsent(self) -> None:
        self._held.clear()
        self._round.clear()
        self._in_flight.clear()
        self._delivering.clear()
        self._uncommitted.clear()

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        """Commit what was forwarded and acknowledged, for the partitions still assigned."""
        assigned = consumer.assignment()
        offsets = {tp: offset for tp, offset in self._uncommitted.items() if tp in assigned}
        self._uncommitted.clear()
        self._committed_at = asyncio.get_running_loop().time()
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except CommitFailedError as exc:
            # A rebalance took the partitions away; their new owner sends them again.
            log.info("rebatcher: commit skipped after a rebalance (%s)", exc)
