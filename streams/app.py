"""The Faust application: topics, the profiles table, the rebatcher, and one thin agent.

The rebatcher (:mod:`streams.ingest.rebatcher`) packs the events topic into envelopes on a
co-partitioned topic; the agent takes one envelope per Faust event, so its table writes are ordinary
writes inside a stream event, in the envelope's partition, which is the partition of every key in
it. All computation lives in :mod:`streams.pipeline.batch`. An envelope's Redis write and then its
changelog finish behind the agent (:mod:`streams.completion`); the changelog names the last envelope
applied, so after a crash the worker reads back from Kafka whatever it committed but had not
finished (:mod:`streams.ingest.sequence`), and profiles recognise replays by source offset.

The rebatcher reads the events partitions whose batches partitions this worker's agent owns and
has recovered, and applies each envelope itself once Kafka has it; the agent skips it when Faust
delivers it. Who applies which envelope, and the invariants that keep each applied once and in
order, live in :mod:`streams.ingest.sequencer`; this class wires the parts together.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import asdict
from typing import Any

from models.features import FeatureExtractor
from models.segments import ClusterSegments
from models.snapshot import ClusterSnapshot
from rules import BUILTIN_RULES, RuleSet
from rules.active import ActiveRules
from rules.explain import explain
from streams.clusters.messages import encode_samples
from streams.clusters.report import cluster_stats
from streams.clusters.watcher import ModelWatcher
from streams.completion import Completions
from streams.durable import wait_delivered, write_and_wait
from streams.faust_fetch import FetchTunedApp
from streams.ingest.dead_letter_log import DeadLetterLog
from streams.ingest.envelope import Envelope, Kind, SourceRecord, pack
from streams.ingest.pacing import AgentProgress
from streams.ingest.rebatcher import Rebatcher
from streams.ingest.sequence import (
    EnvelopeReader,
)
from streams.ingest.sequencer import EnvelopeSequencer
from streams.kafka_security import aiokafka_options, faust_credentials
from streams.ops.gc_pauses import GcPauses
from streams.ops.metrics import ResyncCollector
from streams.ops.wiring import WorkerOps
from streams.pipeline.batch import (
    REEVALUATE_SOURCE,
    RESYNC_REASON,
    BatchOutcome,
    BatchProcessor,
    DeadLetter,
    InputRecord,
    MembershipChange,
)
from streams.pipeline.cache import ProfileCache
from streams.pipeline.dead_letters import (
    DEAD_LETTERED_KEY,
    HEADER_PREFIX,
    Marks,
    dead_letter_partition,
    encode_marks,
    first_time,
)
from streams.pipeline.identity import IdentityMessage, identity_envelopes
from streams.profile import decode_profile
from streams.profile.features import FeatureView
from streams.rollout.kafka_io import follow_rules
from streams.rollout.message import apply_rules_message
from streams.rollout.receipts import ReceiptReporter, reader_name
from streams.schedule.progress import ProgressReporter
from streams.schedule.resync import RedisMarkers, Resyncer
from streams.schedule.scheduler import Scheduler
from streams.settings import Settings
from streams.sink.feed import feed_messages
from streams.sink.redis_writer import RedisWriter, SinkLimits, connect
from streams.table_store import FaustTableStore
from streams.topics import (
    PROFILES_TABLE,
    batches_topic,
    changes_topic,
    cluster_samples_topic,
)
from streams.worker_stats import WorkerStats

log = logging.getLogger(__name__)

# Records of the profiles table that are not profiles: which envelope was applied last and what
# was dead-lettered, per partition (no customer id holds whitespace).
DEAD_LETTER_HEADER_PREFIX = HEADER_PREFIX  # for readers of the dead-letter topic
PRODUCER_LINGER_S = 0.01
PRODUCER_BATCH_BYTES = 960 * 1024
PROBE_DELAY_S = 2.0
PROBE_REASON = "probe"
HEARTBEAT_S = 1.0
STOP_WAIT_S = 5.0  # a stopping agent lets its envelopes' Redis and changelog writes end this long
MODEL_WAIT_S = 30.0  # a starting agent waits this long for the current cluster model
# While a resync runs, its end is looked for this often (at most: the check interval if shorter),
# so that its marker says done soon after its last write rather than at the check's next tick.
RESYNC_FOLLOW_UP_S = 0.5


class Segstream:
    """One worker's Faust app and the parts its agent uses."""

    def __init__(
        self,
        settings: Settings,
        rules: ActiveRules | None = None,
        *,
        rules_offset: int = 0,
    ) -> None:
        self.settings = settings
        self.active_rules = rules or ActiveRules(BUILTIN_RULES)
        self.rules_offset = rules_offset  # the rules topic is followed from here
        self.stats = WorkerStats()
        self.gc_pauses = GcPauses()  # installed by the worker process (streams.worker)
        self.app = FetchTunedApp(
            settings.app_id,
            broker=[f"kafka://{server}" for server in settings.kafka_servers],
            broker_credentials=faust_credentials(settings),
            store="rocksdb://",
            datadir=str(settings.data_dir),
            topic_partitions=settings.topic_partitions,
            topic_replication_factor=settings.topic_replication,
            web_host=settings.web_advertised_host or settings.web_host,
            web_bind=settings.web_host,
            web_port=settings.web_port,
            web_tables_enabled=settings.web_tables_enabled,  # Faust serves table contents
            consumer_auto_offset_reset="earliest",
            # A killed worker's partitions wait this long before a restarted one gets them.
            broker_session_timeout=settings.kafka_session_timeout_s,
            # A member learns of a rebalance (a worker stopping or joining) at its next heartbeat:
            # every 3 s (Faust's default) held a graceful hand-over up by 1.5 s on average.
            broker_heartbeat_interval=min(HEARTBEAT_S, settings.kafka_session_timeout_s / 3),
            producer_acks=-1,
            # Messages nobody waits for (change feed, samples, dead letters) wait up to 10 ms to
            # share a produce request: Faust's default (no wait, 16 KiB batches) sent many small
            # requests, and 12% less worker CPU per event (40% less for Kafka) was measured with
            # these. An envelope's changelog is sent at once and awaited (streams/durable.py), in
            # batches large enough (under the broker's 1 MiB message limit) that one request
            # usually carries all of it.
            producer_linger=PRODUCER_LINGER_S,
            producer_max_batch_size=PRODUCER_BATCH_BYTES,
            # A worker that takes over a partition from a stopped or crashed one starts from its
            # standby copy instead of restoring the whole changelog (see bench/failover.py).
            table_standby_replicas=settings.table_standby_replicas,
        )
        raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes}
        raw |= {"key_serializer": "raw", "value_serializer": "raw"}
        self.batches_topic = self.app.topic(
            batches_topic(settings), partitions=settings.topic_partitions, **raw
        )
        self.dead_letter_topic = self.app.topic(settings.dead_letter_topic, **raw)
        self.changes_topic = self.app.topic(changes_topic(settings), **raw)
        # bytes key and value types make Faust use the raw codec: profiles bring their own.
        self.profiles = self.app.Table(
            PROFILES_TABLE,
            default=None,
            partitions=settings.topic_partitions,
            key_type=bytes,
            value_type=bytes,
            # Faust creates the changelog itself: without this it would take the broker's default.
            extra_topic_configs={"min.insync.replicas": str(settings.topic_min_insync_replicas)},
        )
        self.pacing = AgentProgress(self._active_partitions)
        self.envelope_reader = EnvelopeReader(aiokafka_options(settings), batches_topic(settings))
        self.dead_letter_log = DeadLetterLog(aiokafka_options(settings), settings.dead_letter_topic)
        self._dead_letters_read: set[int] = set()  # partitions read back since the assignment
        self.cluster_watcher = ModelWatcher(settings, settings.cluster_feature_names)
        self.clusters = self._cluster_segments(settings)
        self.cluster_samples_topic = self.app.topic(cluster_samples_topic(settings), **raw)
        self.store = FaustTableStore(self.profiles)
        self.completions = Completions()
        self.sequencer = EnvelopeSequencer(
            apply=self.handle_envelopes,
            store=self.store,
            completions=self.completions,
            reader=self.envelope_reader,
            pacing=self.pacing,
            stats=self.stats,
        )
        self.rebatcher = Rebatcher(settings, self.pacing, self.sequencer)
        self.sequencer.rebatcher = self.rebatcher
        self.processor: BatchProcessor[None] = BatchProcessor(
            store=self.store,
            rules=self.active_rules,
            max_event_bytes=settings.max_event_bytes,
            cache=ProfileCache(settings.profile_cache_size),
            recheck_s=settings.rules_recheck_s,
            clusters=self.clusters,
            cluster_holdout=settings.cluster_holdout,
        )
        self.scheduler = Scheduler(
            self._send_reevaluation, self.processor.assess, forced=frozenset({RESYNC_REASON})
        )
        self._background: set[asyncio.Future[None]] = set()  # referenced until they finish
        self._resync_checking = asyncio.Lock()  # the timer's check and a recovery's, one at a time
        self._resync_following = False  # a task looks for the end of the resyncs running
        self._scanned: set[int] = set()  # partitions whose profiles' timers are known
        limits = SinkLimits.from_settings(settings)
        self.writer = RedisWriter(connect(settings), settings.redis_key_prefix, limits)
        self.app.agent(self.batches_topic, name="segstream.update_profiles")(self._agent)
        self.app.task(self.rebatcher.run)
        self.app.task(self.scheduler.run_timers)
        self.app.task(self._follow_rules)
        self.progress = ProgressReporter(self.writer.client, settings.redis_key_prefix)
        self.app.timer(interval=0.5)(self._report_progress)
        self.profiles.on_recover(self._scan_new_partitions)
        if self.clusters is not None:
            self.app.task(self.cluster_watcher.run)
            self.cluster_watcher.subscribe(self._on_model)
        self.app.on_partitions_revoked.connect(self._forget_cached_profiles)
        self.app.on_partitions_assigned.connect(self._forget_cached_profiles)
        self.app.timer(interval=5.0)(self._log_progress)
        self.app.page("/segstream/stats")(self._stats_view())
        explain_view = self.app.table_route(table=self.profiles, match_info="customer_id")(
            self._explain_view()
        )
        self.app.page("/segstream/explain/{customer_id}/")(explain_view)
        self.ops = WorkerOps(self)
        self.resync = self._resyncer(settings)

    def _resyncer(self, settings: Settings) -> Resyncer:
        """Redis rebuilt from the profiles when it lost a partition's marker."""
        markers = RedisMarkers(
            self.writer.client, settings.redis_key_prefix, settings.topic_partitions
        )
        resync = Resyncer(
            markers, self.stats, self._resync_written, RESYNC_REASON, self.writer.lost_writes
        )
        self.app.timer(interval=settings.resync_check_interval_s)(self._check_resync)
        self.ops.metrics.registry.register(ResyncCollector(lambda: self.stats))
        return resync

    def _cluster_segments(self, settings: Settings) -> ClusterSegments | None:
        if not settings.cluster_enabled:
            return None
        return ClusterSegments(
            FeatureExtractor.parse(settings.cluster_features),
            min_sessions=settings.cluster_min_sessions,
            sample_rate=settings.cluster_sample_rate,
            current=lambda: self.cluster_watcher.current,
        )

    async def _forget_cached_profiles(
        self, app: Any, /, *args: Any, signal: Any, **kwargs: Any
    ) -> None:
        # Another worker may own (and change) these profiles now; the table is the truth again,
        # once every write of this worker reached it. Until recovery ends, only the agent applies.
        self.sequencer.revoking()
        await self.sequencer.forget(self._forget_old_assignment)

    def _forget_old_assignment(self) -> None:
        self.processor.cache.clear()
        self.store.discard()
        self._dead_letters_read.clear()

    @property
    def rules(self) -> RuleSet:
        return self.active_rules.current

    async def _agent(self, stream: Any) -> None:
        if self.clusters is not None:  # so nobody is assigned without the current model
            await self.cluster_watcher.wait_ready(MODEL_WAIT_S)
        try:
            async for event in stream.events():
                self.completions.raise_failed()
                message = event.message
                await self.sequencer.delivered(event.value, message.partition, message.offset)
        finally:
            await self.completions.finish(STOP_WAIT_S)

    async def _send_envelope(self, partition: int, key: bytes | None, envelope: bytes) -> None:
        """Send an envelope of this worker's own to the batches topic, and keep it for the
        rebatcher to apply if the partition is applied here."""
        delivery = await self._send(self.batches_topic, key, envelope, partition=partition)
        self.sequencer.sending_own(partition, envelope, delivery)

    async def handle_envelopes(
        self, envelopes: list[Envelope], partition: int, version: int
    ) -> None:
        """Apply envelopes of one partition as one batch, versioned by the last one's offset (a
        replay of any of them carries a version no newer, so Redis takes nothing twice); at most
        one re-evaluation among them, since its progress is reported by envelope."""
        records = [
            InputRecord(r.key, r.value, envelope.topic, r.partition, r.offset, None)
            for envelope in envelopes
            for r in envelope.records
        ]
        reevaluations = [e for e in envelopes if e.kind == Kind.REEVALUATE]
        assert len(reevaluations) <= 1, "one re-evaluation per batch"
        outcome = await self.handle_records(records, partition, version=version)
        self.scheduler.settled(partition, outcome.due)
        if reevaluations and reevaluations[0].records:
            reason = (reevaluations[0].records[0].value or b"").decode()
            self.scheduler.processed(partition, outcome.reevaluated, reason)
            done = self.stats.reevaluated
            done[reason] = done.get(reason, 0) + outcome.reevaluated
            if reason == RESYNC_REASON:
                self.stats.resync_customers_rewritten += outcome.reevaluated

    async def handle_records(
        self, records: Sequence[InputRecord[None]], partition: int, *, version: int
    ) -> BatchOutcome[None]:
        await self.completions.wait(partition)
        now = time.time()
        self.store.partition = partition
        try:
            outcome = self.processor.process(records, now)
            dead_letters, marks = await self._first_dead_letters(partition, outcome.dead_letters)
        except BaseException:
            self.processor.cache.clear()  # it may hold what the store will not: keep the table
            self.store.discard()
            raise
        await self._send_identity(outcome.outbox)
        if outcome.samples and self.clusters is not None:
            samples = encode_samples(self.clusters.extractor.fingerprint, outcome.samples)
            await self._send(self.cluster_samples_topic, None, samples)
        await self._send_feed(outcome.changes, version, now)
        writes = self.store.take_writes(applied_envelope=version)
        completion = self._complete(
            outcome, partition, version, now, writes, dead_letters=(dead_letters, marks)
        )
        await self.completions.start(partition, completion)
        stats = self.stats
        stats.batches += 1
        stats.received += len(records) - outcome.reevaluated
        stats.applied += outcome.applied
        stats.duplicates += outcome.duplicates
        stats.changes_published += len(outcome.changes)
        return outcome

    async def _first_dead_letters(
        self, partition: int, dead_letters: Sequence[DeadLetter[None]]
    ) -> tuple[Sequence[DeadLetter[None]], Marks | None]:
        """The batch's dead letters that no earlier run of its records sent, and the partition's
        marks including them (None: no dead letters). The first time after an assignment, what
        a crash sent beyond the marks is read back (see streams.pipeline.dead_letters)."""
        if not dead_letters:
            return dead_letters, None
        marks = self.store.dead_letter_marks()
        if partition not in self._dead_letters_read:
            target = dead_letter_partition(partition, await self.dead_letter_log.partitions())
            assert target is not None  # a partition of the batches topic
            marks.include(
                target, await self.dead_letter_log.sent_after(target, marks.written.get(target))
            )
            self._dead_letters_read.add(partition)
        fresh, marks.sources = first_time(dead_letters, marks.sources)
        for dead in fresh:  # only these: a replay counts none of the dead letters it skips
            self._count_dead_letter(dead)
        return fresh, marks

    def _count_dead_letter(self, dead: DeadLetter[None]) -> None:
        record, kind = dead.record, dead.rejection.kind
        self.stats.dead_letters[kind] = self.stats.dead_letters.get(kind, 0) + 1
        # The kind only: the reason and even a field path may quote what the shop sent; both are
        # in the dead letter's headers, which the source coordinates point to.
        log.warning("dead letter %s:%s@%s: %s", record.topic, record.partition, record.offset, kind)

    async def _complete(
        self,
        outcome: BatchOutcome[None],
        partition: int,
        version: int,
        now: float,
        writes: dict[bytes, bytes | None],
        *,
        dead_letters: tuple[Sequence[DeadLetter[None]], Marks | None],
    ) -> None:
        """Publish the envelope's changes to Redis, then write its changelog (see
        :mod:`streams.completion`). Only once Redis has them may the changelog say this batch
        happened; its last record says which envelope it was: Kafka keeps a partition in order, so
        once that is there, all of the batch is.

        The changelog marks the batch's dead letters as sent (streams.pipeline.dead_letters), so
        it is written only once Kafka has them: else a crash in between lost them for good."""
        writing = time.perf_counter()
        await self.writer.publish(
            outcome.changes,
            outcome.purchases,
            outcome.refreshed,
            partition=partition,
            version=version,
            now=now,
        )
        self.ops.settled(outcome, time.perf_counter() - writing)
        fresh, marks = dead_letters
        if marks is not None:
            writes = {DEAD_LETTERED_KEY: await self._send_dead_letters(fresh, marks), **writes}
        await write_and_wait(self.profiles, partition, writes)

    async def _send_dead_letters(
        self, dead_letters: Sequence[DeadLetter[None]], marks: Marks
    ) -> bytes:
        """Send the dead letters and wait until Kafka has them; the marks naming them, encoded."""
        partitions = await self.dead_letter_log.partitions()
        sent = [await self._send_dead_letter(dead, partitions) for dead in dead_letters]
        await wait_delivered(self.app.producer, sent)
        for delivery in sent:
            written = delivery.result()
            last = marks.written.get(written.partition, -1)
            marks.written[written.partition] = max(written.offset, last)
        return encode_marks(marks)

    async def _send(
        self,
        topic: Any,
        key: bytes | None,
        value: bytes | None,
        *,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]:
        # Straight to Faust's producer: Topic.send's per-message futures, callbacks and sensors
        # cost more than the send itself (profiled). What a batch sends here is durable before the
        # batch counts as done: its changelog write (streams/durable.py) sends and awaits every
        # open produce batch.
        name = topic.get_topic_name()
        delivery = await self.app.producer.send(name, key, value, partition, None, headers)
        return asyncio.ensure_future(delivery)  # aiokafka's delivery is a future already

    async def _send_feed(
        self, changes: Sequence[MembershipChange], version: int, now: float
    ) -> None:
        for change in changes:
            for key, value in feed_messages(change, self.processor.variant_of, version, now):
                await self._send(self.changes_topic, key, value)

    # --- re-evaluation without events: timers, rule changes, new partitions -------------------

    async def _send_reevaluation(self, partition: int, customers: list[str], reason: str) -> None:
        records = [SourceRecord(partition, -1, c.encode(), reason.encode()) for c in customers]
        envelope = pack(Envelope(Kind.REEVALUATE, REEVALUATE_SOURCE, records))
        await self._send_envelope(partition, None, envelope)

    def _active_partitions(self) -> set[int]:
        topic = batches_topic(self.settings)
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic}

    async def _scan_new_partitions(self) -> None:
        """After recovery: learn the timers of newly owned profiles, redo stale memberships, and
        probe every owned partition for envelopes Faust dropped during the rebalance."""
        active = self._active_partitions()
        self._in_background(self._probe(active))
        self.scheduler.forget(self._scanned - active)
        new = active - self._scanned
        self._scanned = active
        self.sequencer.recovered(active)
        if new:
            rules = self.rules.version
            store = self.store
            self.scheduler.start_scan(
                new, store.partition_items, store.partition_size, rules, "elapsed"
            )
        # At once rather than at the timer's next tick: a worker starting on a Redis that lost
        # its data rebuilds it now, and a new deployment's (empty) first resync is over before
        # its first events instead of interleaving with them.
        self._in_background(self._check_resync())

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _probe(self, partitions: set[int]) -> None:
        # An empty envelope behind whatever was skipped: taking it reads the skipped ones back,
        # even on a partition that receives nothing else. Sent once flow control is on again.
        await asyncio.sleep(PROBE_DELAY_S)
        for partition in sorted(partitions):
            await self._send_reevaluation(partition, [], PROBE_REASON)

    async def _follow_rules(self) -> None:
        settings = self.settings
        receipts = ReceiptReporter(
            self.writer.client, settings.redis_key_prefix, reader_name(settings)
        )

        async def read_up_to(offset: int) -> None:
            # What `rules publish` confirms: this worker read the publish, and which partitions
            # it rolled out under the rules it runs (an older progress record cannot say that).
            version = self.active_rules.current.version
            await receipts.report(offset, version, self.scheduler.progress)

        await follow_rules(settings, self.rules_offset, self._on_rules_message, read_up_to)

    async def _on_rules_message(self, offset: int, raw: bytes | None) -> None:
        # Never raises for any content: at worst the version is refused and shows in the stats.
        # Loaded in a thread: a big version takes the loader seconds, which would stall this
        # loop's Kafka heartbeats, stats and events (ActiveRules swaps the RuleSet in one step).
        activated = await asyncio.to_thread(apply_rules_message, self.active_rules, raw, offset)
        if activated is not None:
            # Every profile this worker owns is checked against the new rules, not only those
            # that happen to receive an event.
            store = self.store
            self.scheduler.start_scan(
                self._scanned, store.partition_items, store.partition_size,
                activated.version, "rule_change",
            )  # fmt: skip

    def _on_model(self, previous: ClusterSnapshot | None, current: ClusterSnapshot) -> None:
        """The first model after a cold start assigns every stored profile at once; later
        versions (stable ids, little churn) re-assign customers as their profiles change."""
        self.ops.metrics.set_model(current.label, current.created_at)
        if previous is None and self._scanned:
            store = self.store
            self.scheduler.start_scan(
                self._scanned, store.partition_items, store.partition_size,
                self.rules.version, "model",
            )  # fmt: skip
            log.info("cluster model %s: assigning every stored profile", current.label)

    async def _check_resync(self) -> None:
        """Resync the owned, recovered partitions whose marker Redis lacks (see
        :mod:`streams.schedule.resync`), and mark those whose resync is over."""
        async with self._resync_checking:  # two checks at once would both start a resync
            partitions = await self.resync.check(self._scanned, self.scheduler.progress)
        if partitions:
            for partition in partitions:
                # A batch's Redis write precedes its table write: one written just before the loss
                # whose profiles the scan did not find yet stayed lost (CI: 391 customers).
                await self.completions.wait(partition)
            store = self.store
            self.scheduler.start_scan(
                partitions, store.partition_items, store.partition_size,
                self.rules.version, RESYNC_REASON,
            )  # fmt: skip
            if not self._resync_following:
                self._resync_following = True
                self._in_background(self._follow_resyncs())

    async def _follow_resyncs(self) -> None:
        """Check again, often, until no resync of this worker runs."""
        pause = min(RESYNC_FOLLOW_UP_S, self.settings.resync_check_interval_s)
        try:
            while self.resync.running:
                await asyncio.sleep(pause)
                await self._check_resync()
        finally:
            self._resync_following = False

    async def _resync_written(self, partition: int) -> None:
        """The partition's Redis writes are done, and so is the report of the scans' progress:
        `segstream resync` counts the customers rewritten from it once the marker says done, and
        a marker followed to its end (``_follow_resyncs``) could say so before the next report."""
        await self.completions.wait(partition)
        await self._report_progress()

    async def _report_progress(self) -> None:
        await self.progress.report(self.scheduler.progress, self.active_rules)

    async def _send_identity(self, messages: Sequence[IdentityMessage]) -> None:
        # Named partitions (Kafka's default partitioner for each subject), so the envelopes can be
        # kept for the rebatcher before Kafka says where they went.
        partitions = self.settings.topic_partitions
        for partition, envelope in identity_envelopes(messages, partitions).items():
            await self._send_envelope(partition, None, envelope)

    async def _send_dead_letter(
        self, dead: DeadLetter[None], partitions: int
    ) -> asyncio.Future[Any]:
        record, rejection = dead.record, dead.rejection
        headers = {
            "reason": str(rejection),
            "kind": rejection.kind,
            "field": rejection.field,
            "source-topic": record.topic,
            "source-partition": str(record.partition),
            "source-offset": str(record.offset),
        }
        prefixed = [(DEAD_LETTER_HEADER_PREFIX + k, v.encode()) for k, v in headers.items()]
        # One dead-letter partition per source partition: a new owner reads back only that one.
        target = dead_letter_partition(record.partition, partitions)
        topic = self.dead_letter_topic
        return await self._send(topic, record.key, record.value, partition=target, headers=prefixed)

    def _stats_view(self) -> Callable[[Any, Any], Awaitable[Any]]:
        async def stats(view: Any, request: Any) -> Any:
            return view.json(self.stats_snapshot())

        return stats

    def _explain_view(self) -> Callable[[Any, Any, str], Awaitable[Any]]:
        async def explain_customer(view: Any, request: Any, customer_id: str) -> Any:
            # Faust routes the request to the worker that owns the customer's partition.
            return view.json(self.explain(customer_id))

        return explain_customer

    def explain(self, customer_id: str) -> dict[str, Any]:
        raw = self.profiles.get(customer_id.encode())
        if raw is None:
            return {"customer_id": customer_id, "found": False, "verdicts": []}
        profile = decode_profile(raw)
        answer = {
            "customer_id": customer_id,
            "found": True,
            "rules_version": self.rules.version,
            "consent": profile.consent,
            "merged_into": profile.merged_into,
            "published": sorted(profile.segments),
        }
        if profile.merged_into is not None:
            # Frozen at the merge: evaluating it would show segments the alias does not have.
            return answer | {"cluster": {"status": "merged"}, "verdicts": []}
        features = FeatureView(profile, time.time())
        cluster = self.clusters.explain(features) if self.clusters else {"status": "disabled"}
        if cluster.get("segment_id"):
            cluster["variant"] = self.processor.variant_of(cluster["segment_id"], customer_id)
        given = frozenset({cluster["segment_id"]}) if cluster.get("segment_id") else frozenset()
        verdicts = explain(self.rules, features, customer_id, given)
        return answer | {"cluster": cluster, "verdicts": [asdict(v) for v in verdicts]}

    def stats_snapshot(self) -> dict[str, Any]:
        stats = self.stats
        return {
            "received": stats.received,
            "applied": stats.applied,
            "duplicates": stats.duplicates,
            "dead_letters": dict(stats.dead_letters),
            "changes_published": stats.changes_published,
            "envelopes": stats.batches,
            "envelopes_replayed": stats.envelopes_replayed,
            "envelopes_read_back": stats.envelopes_read_back,
            "envelopes_applied_locally": stats.envelopes_applied_locally,
            "own_envelopes_left_to_rebatcher": stats.own_envelopes_left_to_rebatcher,
            "envelopes_read_for_rebatcher": stats.envelopes_read_for_rebatcher,
            "forwarded_by_rebatcher": self.rebatcher.stats.forwarded,
            "applied_by_rebatcher": self.rebatcher.stats.applied_locally,
            "left_by_rebatcher_to_agent": self.rebatcher.stats.left_to_agent,
            "envelopes_made_for_unowned_partitions": stats.envelopes_made_for_unowned_partitions,
            "partitions": {
                "agent": sorted(self.sequencer.local),
                "rebatcher": sorted(self.rebatcher.feeding),
            },
            "profile_cache": {"size": len(self.processor.cache), "hits": self.processor.cache.hits},
            "rules_version": self.rules.version,
            "clusters": cluster_stats(self.cluster_watcher, self.clusters),
            "gc": self.gc_pauses.snapshot(),
            "rules": self._rules_snapshot(),
            "scheduler": {
                **asdict(self.scheduler.stats),
                "timers_pending": len(self.scheduler.due),
                "scans": {p: s.as_dict() for p, s in sorted(self.scheduler.progress.items())},
            },
            "resync": {
                "running": sorted(self.resync.running),
                "started": dict(sorted(stats.resyncs_started.items())),
                "completed": dict(sorted(stats.resyncs_completed.items())),
                "customers_rewritten": stats.resync_customers_rewritten,
            },
        }

    def _rules_snapshot(self) -> dict[str, Any]:
        active = self.active_rules
        rejected = active.rejected
        return {
            "version": active.current.version,
            "activated_at": active.activated_at,
            "activations": active.activations,
            "rejections": active.rejections,
            "rejected": None if rejected is None else asdict(rejected),
        }

    async def _log_progress(self) -> None:
        stats = self.stats
        now = time.monotonic()
        rate = (stats.received - stats.logged_received) / max(now - stats.logged_at, 1e-9)
        stats.logged_received, stats.logged_at = stats.received, now
        log.info(
            "events=%d (%.0f/s) applied=%d duplicates=%d dead_letters=%d published=%d",
            stats.received,
            rate,
            stats.applied,
            stats.duplicates,
            sum(stats.dead_letters.values()),
            stats.changes_published,
        )
