"""Table writes that return only once Kafka has their changelog records.

Faust writes a table's RocksDB store at once and queues the changelog record in a producer buffer
that sends one message at a time; before committing an offset it flushes that buffer with a wait
that gives up after 0.1 s without progress. Under load an offset could therefore be committed
before the records of the work it stands for were sent, and a kill -9 lost that work (the fault
test did, every time). Here an envelope's records go straight to the producer, so they share
produce requests; the store is written only once Kafka acknowledged all of them, so the local
store never holds what the changelog lacks; and the store's persisted changelog offset, which
recovery starts from, moves only then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from faust.types import TP


async def write_and_wait(table: Any, partition: int, writes: Mapping[bytes, bytes | None]) -> None:
    """Write ``writes`` (None deletes) to partition ``partition`` of a Faust table's changelog,
    wait for Kafka's acknowledgement, then apply them to that partition's store — unless the
    partition was revoked meanwhile: its changelog is then the truth for whoever owns it next."""
    if not writes:
        return
    topic = table.changelog_topic.get_topic_name()
    producer = table.app.producer
    sending = [
        await producer.send(topic, key, value, partition, None, None)
        for key, value in writes.items()
    ]
    await _send_open_batches(producer)
    delivered = await asyncio.gather(*sending)
    store = table.data
    # The partition's own database, named explicitly: this may run after the agent moved on to an
    # event of another partition, and Faust's store picks the database by the current event.
    database = store._dbs.get(partition)
    if database is None:
        return
    for key, value in writes.items():
        if value is None:
            database.delete(key)
        else:
            database.put(key, value)
    store.set_persisted_offset(TP(topic, partition), max(meta.offset for meta in delivered))


async def wait_delivered(producer: Any, deliveries: Sequence[asyncio.Future[Any]]) -> None:
    """Return once Kafka acknowledged every one of ``deliveries`` (sends of ``producer``), sent
    now rather than after the producer's linger time; raise if one failed."""
    if deliveries:
        await _send_open_batches(producer)
        await asyncio.gather(*deliveries)


async def _send_open_batches(producer: Any) -> None:
    """The producer may linger to share requests among messages nobody waits for (change feed,
    samples); these records are waited for, so their open batches are closed and sent now, as
    aiokafka does before a transaction commits. Without that (another driver), they still leave
    once the linger time passed."""
    accumulator = getattr(getattr(producer, "_producer", None), "_message_accumulator", None)
    if accumulator is not None:
        await accumulator.flush_for_commit()
