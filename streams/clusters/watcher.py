"""Every worker follows the compacted models topic and swaps in each newer snapshot atomically.

The watcher reads the topic from the beginning (compaction leaves the latest snapshot there), so a
worker that starts or restarts has the current model before it processes anything (the agent waits
for :meth:`ModelWatcher.wait_ready`). Swapping is one reference assignment on the event loop; a
batch pins the snapshot it started with (``ClusterSegments.for_batch``), so all customers of a
batch are assigned by one version and all workers converge on the newest.

**Hook for re-evaluation.** A new model re-assigns each customer the next time its profile is
touched. Re-assigning everybody at once is the job of the general "re-evaluate all profiles"
mechanism (for rule changes, too): it registers with :meth:`ModelWatcher.subscribe` and is called
with ``(previous, current)`` after every swap; membership changes it makes should carry the reason
``"model"``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from models.snapshot import ClusterSnapshot, SnapshotError
from streams.kafka_security import aiokafka_options
from streams.settings import Settings
from streams.topics import cluster_models_topic

log = logging.getLogger(__name__)

RETRY_S = 1.0
Listener = Callable[[ClusterSnapshot | None, ClusterSnapshot], None]


class ModelWatcher:
    def __init__(self, settings: Settings, features: tuple[str, ...]) -> None:
        self.settings = settings
        self.features = features
        self.current: ClusterSnapshot | None = None
        self.received = 0
        self.rejected = 0
        self._listeners: list[Listener] = []
        self._ready: asyncio.Event | None = None

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(previous, current)`` after every model swap."""
        self._listeners.append(listener)

    def offer(self, raw: bytes | None) -> bool:
        """Swap in ``raw`` if it is a newer snapshot of our features; True if it was."""
        self.received += 1
        try:
            snapshot = ClusterSnapshot.from_json(raw or b"")
        except SnapshotError as exc:
            self.rejected += 1
            log.warning("ignoring a cluster model message: %s", exc)
            return False
        if snapshot.features != self.features:
            self.rejected += 1
            log.warning(
                "ignoring %s: learnt on other features than SEGSTREAM_CLUSTER_FEATURES",
                snapshot.label,
            )
            return False
        previous = self.current
        if previous is not None and snapshot.version <= previous.version:
            return False
        self.current = snapshot
        log.info("cluster model %s in use (%d clusters)", snapshot.label, len(snapshot.clusters))
        for listener in self._listeners:
            listener(previous, snapshot)
        return True

    def _ready_event(self) -> asyncio.Event:
        if self._ready is None:  # created on the running loop, not at import
            self._ready = asyncio.Event()
        return self._ready

    async def wait_ready(self, timeout_s: float) -> None:
        """Until the topic has been read to its end once (or ``timeout_s``: go on without)."""
        try:
            await asyncio.wait_for(self._ready_event().wait(), timeout_s)
        except TimeoutError:
            log.warning("no cluster model read after %.0fs; assigning once one arrives", timeout_s)

    async def run(self) -> None:
        """Follow the models topic forever; Kafka errors are retried."""
        while True:
            try:
                await self._follow()
            except (KafkaError, OSError) as exc:
                log.warning("cluster model watcher: %r; reconnecting", exc)
                await asyncio.sleep(RETRY_S)

    async def _follow(self) -> None:
        settings = self.settings
        partition = TopicPartition(cluster_models_topic(settings), 0)
        consumer = AIOKafkaConsumer(
            **aiokafka_options(settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            end = (await consumer.end_offsets([partition]))[partition]
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    for record in records:
                        self.offer(record.value)
                if await consumer.position(partition) >= end:
                    self._ready_event().set()
        finally:
            await consumer.stop()
