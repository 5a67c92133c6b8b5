"""The rebatcher's read of other workers' envelopes with Kafka unreachable: an empty answer (the
envelope is then left to the agent), never an error that would stop the worker."""

from __future__ import annotations

import asyncio
import time

from streams.ingest.sequence import GAP_READ_TIMEOUT_S, EnvelopeReader
from tests.integration.harness import free_port


def test_a_read_with_kafka_down_answers_nothing_within_its_time_twice_in_a_row() -> None:
    reader = EnvelopeReader({"bootstrap_servers": f"127.0.0.1:{free_port()}"}, "batches")

    async def read_twice() -> list[dict[int, bytes]]:
        try:
            return [await reader.read_now(0, range(3, 5)) for _ in range(2)]
        finally:
            await reader.close()

    started = time.monotonic()
    assert asyncio.run(read_twice()) == [{}, {}]
    assert time.monotonic() - started < 2 * GAP_READ_TIMEOUT_S + 5
