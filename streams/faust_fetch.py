"""The Faust consumer of a worker, fetching in fewer, fuller requests.

Faust's consumer reads every envelope of the batches topic, although the rebatcher of the worker
that made an envelope has applied it by then and the agent only skips it
(:mod:`streams.ingest.sequencer`). Faust asks the broker for at least one byte per fetch, so at
moderate rates every envelope came back in a fetch of its own, decoded in Python by Faust's
consumer thread and handed to the event loop; that thread and the event loop then took turns on
the GIL. Measured on one worker paced at 1,000 events/s (about a tenth of its maximum here), with
the rebatcher's own fetches tuned the same way (``streams.ingest.rebatcher.FETCH_MIN_BYTES``),
alternating with the code before: 0.65-0.66 cores instead of 0.89, with the same p99 latency;
0.85-0.88 instead of 0.92 at 3,000 events/s; no difference at 6,000. A longer wait (100 ms) saved
more at 1,000 events/s (0.58 cores) but showed a worse p99 at 3,000 in both of two runs.

Here the broker holds a fetch until it has ``AGENT_FETCH_MIN_BYTES`` or ``AGENT_FETCH_WAIT_MS``
passed. What the agent applies itself (envelopes another worker's rebatcher made, which happens
while an assignment settles) waits that much longer; table recovery, which reads the changelogs
through the same consumer, reads full fetches until its last one.

Faust passes no fetch size to aiokafka (it builds the consumer in
``AIOKafkaConsumerThread._create_worker_consumer``), so the values are set on the consumer before
it starts, which is when aiokafka hands them to its fetcher; ``tests/streams/test_faust_fetch.py``
fails if aiokafka or Faust stop reading them there.
"""

from __future__ import annotations

from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TransportT

AGENT_FETCH_MIN_BYTES = 256 * 1024
AGENT_FETCH_WAIT_MS = 25


def tune_fetches(consumer: aiokafka.AIOKafkaConsumer) -> aiokafka.AIOKafkaConsumer:
    """Set the consumer's fetch size and wait, which it reads when it starts."""
    consumer._fetch_min_bytes = AGENT_FETCH_MIN_BYTES
    consumer._fetch_max_wait_ms = AGENT_FETCH_WAIT_MS
    return consumer


class FetchTunedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        return tune_fetches(super()._create_worker_consumer(transport))


class FetchTunedConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> FetchTunedConsumerThread:
        return FetchTunedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class FetchTunedTransport(faust_aiokafka.Transport):
    Consumer = FetchTunedConsumer


class FetchTunedApp(faust.App):
    """A Faust app whose consumer fetches as described above; its producer is Faust's own."""

    def _new_transport(self) -> TransportT:
        return FetchTunedTransport(self.conf.broker_consumer, self)
