"""Table writes that return only once Kafka has their changelog records.

Faust queues a table write's changelog record in a producer buffer and, before committing an
offset, flushes that buffer with a wait that gives up after 0.1 s without progress: under load an
offset could be committed before the records of the work it stands for were sent, and a kill -9
then lost that work. Writes made here send each record as Faust's own ``Table.__setitem__`` does
(same partition, serializers and persisted-offset callback) and await every delivery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any


async def write_and_wait(table: Any, writes: Mapping[bytes, bytes | None]) -> None:
    """Apply ``writes`` (None deletes) to a Faust table; return once Kafka acknowledged each
    changelog record. Only inside a stream event: the event's partition is the table's."""
    sent = []
    for key, value in writes.items():
        partition = table.partition_for_key(key)
        if value is None:
            sent.append(table.send_changelog(partition, key, None, value_serializer="raw"))
            del table.data[key]
        else:
            sent.append(table.send_changelog(partition, key, value))
            table.data[key] = value
    if sent:
        await asyncio.gather(*sent)
