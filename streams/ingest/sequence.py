"""Every envelope of a batches partition is applied once and in order, even one Faust never hands
to the agent.

Faust acks a message that reaches a stream while flow control is off (during a rebalance or table
recovery) without delivering it, and a later commit can then pass over it: the kill -9 test saw the
first envelope of a fresh partition, and one right after a restart, committed but never applied.
So the worker keeps, per partition, the offset of the last envelope it applied (written after that
envelope's profiles are in the changelog), skips envelopes up to it, and reads any it missed back
from Kafka before applying the next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from streams.ingest.partition_range import read_range

log = logging.getLogger(__name__)

# The rebatcher reads another worker's envelopes for this long before leaving its own to the agent
# (see EnvelopeReader.read_now); a read of offsets just acknowledged takes milliseconds.
GAP_READ_TIMEOUT_S = 2.0


def missed_envelopes(applied: int | None, offset: int, first_offset: int) -> range:
    """Offsets before ``offset`` not yet applied: after ``applied``, or from the partition's first
    offset when nothing was ever applied.

    >>> missed_envelopes(applied=9, offset=10, first_offset=0)
    range(10, 10)
    >>> missed_envelopes(applied=9, offset=13, first_offset=0)
    range(10, 13)
    >>> missed_envelopes(applied=None, offset=2, first_offset=0)
    range(0, 2)
    """
    start = first_offset if applied is None else applied + 1
    return range(start, offset)


class OwnEnvelopes:
    """Envelopes this worker sent to the batches topic itself (re-evaluations, identity messages),
    by partition and offset, until applied: the rebatcher applies its own envelope at once only if
    every envelope since the last one applied in that partition is here to apply before it.

    >>> async def sent_then_delivered() -> list[tuple[int, bytes]] | None:
    ...     own = OwnEnvelopes()
    ...     delivery = asyncio.get_running_loop().create_future()
    ...     own.sending(partition=3, envelope=b"identity", delivery=delivery)
    ...     delivery.set_result(type("RecordMetadata", (), {"offset": 7}))
    ...     await own.delivered(partition=3)  # what is on its way to the partition is there
    ...     return own.between(partition=3, applied=6, offset=8)
    >>> asyncio.run(sent_then_delivered())
    [(7, b'identity')]
    >>> own = OwnEnvelopes()
    >>> own.add(partition=0, offset=11, envelope=b"re-evaluate")
    >>> own.between(partition=0, applied=10, offset=12)
    [(11, b're-evaluate')]
    >>> own.between(partition=0, applied=11, offset=12)
    []
    >>> own.between(partition=0, applied=10, offset=13) is None  # 12 was sent by someone else
    True
    >>> own.between(partition=0, applied=None, offset=12) is None  # nothing applied yet
    True
    >>> own.holds(partition=0, offset=11), own.holds(partition=0, offset=12), own.latest()
    (True, False, {0: 11})
    >>> own.forget_through(partition=0, offset=11)  # applied
    >>> own.between(partition=0, applied=10, offset=12) is None
    True
    >>> own.latest()
    {}
    >>> async def sent_then_cleared() -> int:
    ...     own = OwnEnvelopes()
    ...     delivery = asyncio.get_running_loop().create_future()
    ...     own.sending(partition=3, envelope=b"identity", delivery=delivery)
    ...     own.clear()  # a rebalance while it was on its way
    ...     delivery.set_result(type("RecordMetadata", (), {"offset": 7}))
    ...     await asyncio.sleep(0)
    ...     return len(own)
    >>> asyncio.run(sent_then_cleared())
    0
    """

    def __init__(self) -> None:
        self._sent: dict[int, dict[int, bytes]] = {}
        self._pending: dict[int, set[asyncio.Future[Any]]] = {}  # sent, not yet acknowledged
        self._generation = 0  # what was sent before the last clear() is not kept

    def sending(self, partition: int, envelope: bytes, delivery: asyncio.Future[Any]) -> None:
        """Keep ``envelope`` once Kafka acknowledged it in ``partition`` (at the offset it says)."""
        pending = self._pending.setdefault(partition, set())
        pending.add(delivery)
        generation = self._generation

        def done(delivery: asyncio.Future[Any]) -> None:
            pending.discard(delivery)
            # A failed send is not in Kafka: nobody applies it, here or in the agent.
            failed = delivery.cancelled() or delivery.exception() is not None
            if not failed and generation == self._generation:
                self.add(partition, delivery.result().offset, envelope)

        delivery.add_done_callback(done)

    async def delivered(self, partition: int) -> None:
        """Return once every envelope sent to ``partition`` so far was acknowledged (or failed)."""
        pending = self._pending.get(partition)
        if pending:
            await asyncio.wait(set(pending))  # their callbacks, added first, have run

    def add(self, partition: int, offset: int, envelope: bytes) -> None:
        self._sent.setdefault(partition, {})[offset] = envelope

    def holds(self, partition: int, offset: int) -> bool:
        """Whether the envelope at ``offset`` of ``partition`` is one this worker sent and kept."""
        return offset in self._sent.get(partition, ())

    def latest(self) -> dict[int, int]:
        """The offset of the last envelope kept, per partition that has any."""
        return {partition: max(sent) for partition, sent in self._sent.items() if sent}

    def between(
        self,
        partition: int,
        applied: int | None,
        offset: int,
        others: Mapping[int, bytes] | None = None,
    ) -> list[tuple[int, bytes]] | None:
        """The envelopes after ``applied`` and before ``offset``, this worker's or among
        ``others`` (offset -> envelope, read from Kafka), or None when one is in neither."""
        if applied is None or offset <= applied:
            return None
        known = {**(others or {}), **self._sent.get(partition, {})}
        gap = range(applied + 1, offset)
        if not all(missing in known for missing in gap):
            return None
        return [(missing, known[missing]) for missing in gap]

    def not_sent(self, partition: int, applied: int | None, offset: int) -> range:
        """The offsets after ``applied`` and before ``offset`` from the first to the last envelope
        this worker did not send (empty when it sent them all).

        >>> own = OwnEnvelopes()
        >>> own.add(partition=0, offset=11, envelope=b"identity")
        >>> own.not_sent(partition=0, applied=9, offset=14), own.not_sent(0, applied=10, offset=12)
        (range(10, 14), range(0, 0))
        """
        if applied is None:
            return range(0)
        sent = self._sent.get(partition, {})
        others = [missing for missing in range(applied + 1, offset) if missing not in sent]
        return range(others[0], others[-1] + 1) if others else range(0)

    def forget_through(self, partition: int, offset: int) -> None:
        """Drop what was sent to ``partition`` up to ``offset``: it is applied."""
        sent = self._sent.get(partition)
        if sent:
            for old in [old for old in sent if old <= offset]:
                del sent[old]

    def clear(self) -> None:
        """Forget what was sent, and what is still being sent (a rebalance: the partitions may be
        another worker's now)."""
        self._sent.clear()
        self._pending.clear()
        self._generation += 1

    def __len__(self) -> int:
        return sum(map(len, self._sent.values()))


class Passes:
    """The rebatcher's passes (one read, forward and apply each), counted so that the agent can
    leave an envelope to the next one: the rebatcher applies this worker's own envelopes with the
    next envelope of events of their partition, or at the end of the next pass if none came.

    >>> async def agent_waits() -> tuple[bool, bool]:
    ...     passes = Passes()
    ...     passes.begin()  # a pass in progress when the agent looks: not the one to wait for
    ...     async def rebatcher() -> None:
    ...         passes.end()
    ...         await asyncio.sleep(0)
    ...         passes.begin()
    ...         passes.end()
    ...     running = asyncio.ensure_future(rebatcher())
    ...     waited = await passes.next_ended(timeout_s=1.0)
    ...     await running
    ...     idle = await Passes().next_ended(timeout_s=0.01)  # no pass ends: gives up
    ...     return waited, idle
    >>> asyncio.run(agent_waits())
    (True, False)
    """

    def __init__(self) -> None:
        self.begun = 0
        self.ended = 0
        self._ending = asyncio.Event()

    def begin(self) -> None:
        self.begun += 1

    def end(self) -> None:
        self.ended += 1
        self._ending.set()

    async def next_ended(self, timeout_s: float) -> bool:
        """Wait until a pass that begins after this call has ended; False after ``timeout_s``."""
        loop = asyncio.get_running_loop()
        target, deadline = self.begun + 1, loop.time() + timeout_s
        while self.ended < target:  # passes never overlap: they end in the order they begin
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._ending.clear()
            try:
                await asyncio.wait_for(self._ending.wait(), remaining)
            except TimeoutError:
                return False
        return True


def already_applied(applied: int | None, offset: int) -> bool:
    """A redelivery (after a crash or rebalance) of an envelope this partition already applied."""
    return applied is not None and offset <= applied


class EnvelopeReader:
    """Reads envelopes of one partition of the batches topic directly, outside any group."""

    def __init__(self, kafka: Mapping[str, Any], topic: str) -> None:
        self._kafka = kafka  # brokers and security: streams.kafka_security.aiokafka_options
        self._topic = topic
        self._kept: AIOKafkaConsumer | None = None  # for read_now, started at its first read

    async def read_now(self, partition: int, offsets: range) -> dict[int, bytes]:
        """Offset -> envelope for ``offsets``, read with one consumer kept between calls; what it
        could not read within ``GAP_READ_TIMEOUT_S`` (or at all) is missing from the answer.

        The rebatcher calls this in every round that another worker's identity message reached a
        partition (a login there merged a visitor whose events come here): a consumer started for
        each read cost a connection and a metadata request each time."""
        tp = TopicPartition(self._topic, partition)
        found: dict[int, bytes] = {}
        try:
            # Starting the consumer is inside the time and the errors caught: with Kafka down it
            # raised out of the rebatcher's apply, which stops the worker (LocalApplyError).
            async with asyncio.timeout(GAP_READ_TIMEOUT_S):
                consumer = self._kept = self._kept or await self._consumer()
                async for record in read_range(consumer, tp, offsets):
                    if record.value is not None:
                        found[record.offset] = record.value
        except (TimeoutError, KafkaError, OSError) as exc:
            log.info("reading envelopes %s of partition %s: %r", offsets, partition, exc)
            await self.close()  # the next read starts afresh
        else:
            consumer.pause(tp)  # not fetched in the background until the next read
        return found

    async def close(self) -> None:
        kept, self._kept = self._kept, None
        if kept is not None:
            await kept.stop()

    async def first_offset(self, partition: int) -> int:
        consumer = await self._consumer()
        try:
            tp = TopicPartition(self._topic, partition)
            offsets: dict[TopicPartition, int] = await consumer.beginning_offsets([tp])
            return offsets[tp]
        finally:
            await consumer.stop()

    async def read(self, partition: int, offsets: range) -> AsyncIterator[tuple[int, bytes]]:
        """(offset, envelope) for every message in ``offsets`` (see read_range for how long it
        waits)."""
        consumer = await self._consumer()
        try:
            tp = TopicPartition(self._topic, partition)
            async for record in read_range(consumer, tp, offsets):
                if record.value is not None:
                    yield record.offset, record.value
        finally:
            await consumer.stop()

    async def _consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            **self._kafka,
            group_id=None,
            enable_auto_commit=False,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        try:
            await consumer.start()
        except BaseException:  # Kafka unreachable, or the read's time ran out: nothing left open
            await consumer.stop()
            raise
        return consumer
