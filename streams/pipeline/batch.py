"""The whole per-batch computation, free of Faust, Kafka and Redis so it can be tested and timed
alone.

A batch of raw records goes in; out come the dead letters, the profiles to save, and the
membership changes to publish. The stream layer only moves bytes in and out."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, Protocol, TypeVar

from models.names import CLUSTER_PREFIX
from models.segments import BatchClusters, ClusterSegments, Sample
from rules import RuleSet
from rules.ruleset import Variant, holdout_variant
from rules.timing import TimeDependence, next_change
from streams.events import EventRejected, Rejection, decode_event
from streams.events.schemas import Event, Purchase
from streams.pipeline.cache import ProfileCache
from streams.pipeline.identity import (
    IDENTITY_SOURCE,
    IdentityMessage,
    IdentityMessageError,
    decode_identity,
)
from streams.profile import (
    DEFAULT_CONFIG,
    Profile,
    ProfileConfig,
    ProfileDecodeError,
    apply_event,
    decode_profile,
    encode_profile,
    merge_into,
    to_cents,
)
from streams.profile.features import FeatureView

log = logging.getLogger(__name__)

# Records of this source ask to re-evaluate an existing profile (key: customer id, value: the
# reason, e.g. b"elapsed" or b"rule_change"); the stream layer sends them when time passes or
# rules change, so the table is written inside a stream event of the profile's partition.
REEVALUATE_SOURCE = "segstream.reevaluate"
# The reason of a re-evaluation that publishes the customer's whole membership even when it did
# not change: Redis lost it (streams.schedule.resync), and the sink rewrites it from the profile.
RESYNC_REASON = "resync"

Handle = TypeVar("Handle")
Handle_contra = TypeVar("Handle_contra", contravariant=True)


class InputRecord(NamedTuple, Generic[Handle]):
    """One Kafka message; ``handle`` is whatever the stream layer needs to write its key's state.

    A named tuple: immutable like a frozen dataclass at a third of its cost to create, which the
    worker pays for every event.
    """

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int
    handle: Handle

    @property
    def source(self) -> str:
        return f"{self.topic}:{self.partition}"


@dataclass(frozen=True, slots=True)
class DeadLetter(Generic[Handle]):
    record: InputRecord[Handle]
    rejection: Rejection


@dataclass(frozen=True, slots=True)
class MembershipChange:
    """A customer's complete current membership, published because it differs from the last one."""

    customer_id: str
    segments: dict[str, float]  # segment id -> member since (epoch s)
    variants: dict[str, str]  # segment id -> treatment | control (holdout)
    entered: frozenset[str]
    exited: frozenset[str]
    profile_version: int
    rules_version: str
    # Why membership changed: event | forget | consent | merge | elapsed (time passed, no event)
    # | rule_change (a new rules version) | model (a new cluster model version) | resync (Redis
    # lost it: published again, unchanged, so entered and exited may both be empty).
    reason: str
    erased: bool = False  # the customer was forgotten: remove every trace from the sink
    anonymous: bool = False  # a visitor not yet identified (the sink may expire it)
    alias_of: str | None = None  # this visitor is now known to be that customer
    model_version: str = ""  # cluster model that decided a ``cluster_*`` segment, if any


@dataclass(frozen=True, slots=True)
class PurchaseMade:
    """A purchase by a customer who was in segments, credited to them by the sink (metrics)."""

    customer_id: str
    order_id: str
    cents: int


class ProfileStore(Protocol[Handle_contra]):
    def load(self, key: str, handle: Handle_contra) -> bytes | None: ...

    def save(self, key: str, value: bytes, handle: Handle_contra) -> None: ...

    def delete(self, key: str, handle: Handle_contra) -> None: ...


@dataclass(slots=True)
class BatchOutcome(Generic[Handle]):
    dead_letters: list[DeadLetter[Handle]] = field(default_factory=list)
    changes: list[MembershipChange] = field(default_factory=list)
    outbox: list[IdentityMessage] = field(default_factory=list)  # to send through Kafka
    # Settled profiles' next instant at which time alone may change membership (None: never).
    due: dict[str, float | None] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)  # for the cluster trainer
    applied: int = 0
    duplicates: int = 0
    reevaluated: int = 0
    # Event times (epoch s) of the applied events, for the end-to-end freshness metric.
    event_times: list[float] = field(default_factory=list)
    # Segment metrics: purchases made while in segments, and members whose TTL to renew.
    purchases: list[PurchaseMade] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)  # anonymous, active, membership unchanged


@dataclass(slots=True)
class _Touched(Generic[Handle]):
    profile: Profile
    handle: Handle
    published: dict[str, float]  # segments as last published, before this batch
    reason: str = "event"
    erased: bool = False  # a forget arrived: publish nothing until new events rebuild it
    dirty: bool = True  # state changed: save it (a re-evaluation saves only a new membership)
    forced: bool = False  # publish the membership even if unchanged (a resync)


@dataclass(frozen=True, slots=True)
class BatchProcessor(Generic[Handle]):
    """Applies batches of events to profiles held in ``store`` and evaluates ``rules``."""

    store: ProfileStore[Handle]
    rules: Callable[[], RuleSet]
    max_event_bytes: int
    config: ProfileConfig = DEFAULT_CONFIG
    cache: ProfileCache = field(default_factory=lambda: ProfileCache(100_000))
    recheck_s: float = 3600.0  # rules whose timing cannot be solved are re-checked this often
    clusters: ClusterSegments | None = None  # machine-learned segments; None: rules only
    cluster_holdout: float = 0.0  # share of each cluster segment's members held out as control

    def variant_of(self, segment_id: str, customer_id: str) -> Variant:
        """Treatment or control: a rule's holdout, or the clusters' for a ``cluster_*`` segment."""
        return self._variant(self.rules(), segment_id, customer_id)

    def _variant(self, rules: RuleSet, segment_id: str, customer_id: str) -> Variant:
        if self.clusters is not None and segment_id.startswith(CLUSTER_PREFIX):
            return holdout_variant(segment_id, customer_id, self.cluster_holdout)
        return rules.variant(segment_id, customer_id)

    def process(self, records: Sequence[InputRecord[Handle]], now: float) -> BatchOutcome[Handle]:
        try:
            return self._process(records, now)
        except BaseException:
            # Profiles in the cache may hold half-applied changes the store never saw.
            self.cache.clear()
            raise

    def _process(self, records: Sequence[InputRecord[Handle]], now: float) -> BatchOutcome[Handle]:
        outcome: BatchOutcome[Handle] = BatchOutcome()
        touched: dict[str, _Touched[Handle]] = {}
        for record in records:
            if record.topic == IDENTITY_SOURCE:
                self._identity(record, touched, outcome)
                continue
            if record.topic == REEVALUATE_SOURCE:
                self._reevaluate(record, touched, outcome)
                continue
            event = self._decode(record, outcome)
            if event is not None:
                self._route(record, event, touched, outcome)
        rules = self.rules()
        clusters = self.clusters.for_batch() if self.clusters is not None else None
        for subject, entry in touched.items():
            change = self._settle(subject, entry, rules, now, clusters=clusters, outcome=outcome)
            if change is not None:
                outcome.changes.append(change)
            elif entry.profile.anonymous and (entry.profile.segments or entry.profile.merged_into):
                outcome.refreshed.append(subject)  # an active visitor (or alias) must not expire
        return outcome

    def _decode(self, record: InputRecord[Handle], outcome: BatchOutcome[Handle]) -> Event | None:
        try:
            event = decode_event(record.value, max_bytes=self.max_event_bytes)
        except EventRejected as rejected:
            outcome.dead_letters.append(DeadLetter(record, rejected.rejection))
            return None
        if record.key is None or record.key.decode(errors="replace") != event.subject_id:
            message = f"message key {record.key!r} is not the event's subject {event.subject_id!r}"
            outcome.dead_letters.append(DeadLetter(record, Rejection("key_mismatch", "", message)))
            return None
        return event

    def _entry(
        self, subject: str, anonymous: bool, handle: Handle, touched: dict[str, _Touched[Handle]]
    ) -> _Touched[Handle]:
        entry = touched.get(subject)
        if entry is None:
            profile = self._load(subject, anonymous, handle)
            entry = touched[subject] = _Touched(profile, handle, dict(profile.segments))
        elif not entry.dirty:  # only a re-evaluation so far: an event now changes it
            entry.dirty, entry.reason = True, "event"
        return entry

    def _route(
        self,
        record: InputRecord[Handle],
        event: Event,
        touched: dict[str, _Touched[Handle]],
        outcome: BatchOutcome[Handle],
    ) -> None:
        subject = event.subject_id
        entry = self._entry(subject, event.customer_id is None, record.handle, touched)
        if entry.profile.merged_into is not None:
            self._forward_to_customer(record, event, entry, outcome)
            return
        source, offset = record.source, record.offset
        if event.type == "forget":
            self._forget(entry, subject, outcome)
        elif event.type == "identify" and event.anonymous_id != subject:
            if self._apply(event, entry, outcome, source, offset):  # a replay asks no merge again
                request = IdentityMessage(
                    "merge_request", event.anonymous_id, subject, event.event_id
                )
                outcome.outbox.append(request)
        else:
            self._apply(event, entry, outcome, source, offset)

    def _forward_to_customer(
        self,
        record: InputRecord[Handle],
        event: Event,
        entry: _Touched[Handle],
        outcome: BatchOutcome[Handle],
    ) -> None:
        """This visitor is now a known customer: the customer's partition applies the event.

        A replay is dropped here by the visitor's own applied offsets, as any profile drops one:
        its events before the merge are in the customer's totals already, and the customer's
        partition would recognise them only among its last 256 event ids."""
        visitor, source, offset = entry.profile, record.source, record.offset
        if visitor.already_applied(event.event_id, source, offset):
            outcome.duplicates += 1
            return
        visitor.remember(event.event_id, source, offset, self.config)
        text = (record.value or b"").decode()
        forward = IdentityMessage(
            "forward", visitor.merged_into or "", visitor.id, payload=text, source=source,
            offset=offset,
        )  # fmt: skip
        outcome.outbox.append(forward)

    def _apply(
        self,
        event: Event,
        entry: _Touched[Handle],
        outcome: BatchOutcome[Handle],
        source: str,
        offset: int,
    ) -> bool:
        """Apply ``event`` unless it is a repeat; whether it was applied."""
        if apply_event(entry.profile, event, source=source, offset=offset, config=self.config):
            outcome.applied += 1
            outcome.event_times.append(event.epoch_s)
            entry.erased = False
            if event.type == "consent":
                entry.reason = "consent"
            elif isinstance(event, Purchase) and entry.published:
                # Credited to the segments the front end showed: those published before this batch.
                cents = to_cents(event.total)
                outcome.purchases.append(PurchaseMade(entry.profile.id, event.order_id, cents))
            return True
        outcome.duplicates += 1
        return False

    def _forget(self, entry: _Touched[Handle], subject: str, outcome: BatchOutcome[Handle]) -> None:
        for alias in entry.profile.aliases:
            outcome.outbox.append(IdentityMessage("forget_alias", alias, subject))
        entry.profile = Profile(subject, anonymous=entry.profile.anonymous)
        entry.erased, entry.reason = True, "forget"
        outcome.applied += 1

    def _reevaluate(
        self,
        record: InputRecord[Handle],
        touched: dict[str, _Touched[Handle]],
        outcome: BatchOutcome[Handle],
    ) -> None:
        subject = (record.key or b"").decode(errors="replace")
        reason = (record.value or b"elapsed").decode(errors="replace")
        outcome.reevaluated += 1
        if subject in touched:  # settled with this batch anyway; a resync still publishes it
            touched[subject].forced |= reason == RESYNC_REASON
            return
        profile = self.cache.get(subject)
        if profile is None:
            raw = self.store.load(subject, record.handle)
            if raw is None:
                return  # erased since the request was sent: nothing to evaluate
            profile = decode_profile(raw)
        entry = _Touched(profile, record.handle, dict(profile.segments), reason, dirty=False)
        entry.forced = reason == RESYNC_REASON
        touched[subject] = entry

    def _identity(
        self,
        record: InputRecord[Handle],
        touched: dict[str, _Touched[Handle]],
        outcome: BatchOutcome[Handle],
    ) -> None:
        try:
            message = decode_identity(record.value)
        except IdentityMessageError as exc:
            reason = Rejection("invalid", "", str(exc))
            outcome.dead_letters.append(DeadLetter(record, reason))
            return
        if message.op not in {"merge_request", "merge_state", "forward", "forget_alias"}:
            # Never fall through to erasure: a typo or a newer peer's op must not delete a profile.
            reason = Rejection("invalid", "op", f"unknown identity op {message.op!r}")
            outcome.dead_letters.append(DeadLetter(record, reason))
            return
        anonymous = message.op in {"merge_request", "forget_alias"}
        entry = self._entry(message.subject, anonymous, record.handle, touched)
        if message.op == "merge_request":
            self._merge_request(message, entry, outcome)
        elif message.op == "merge_state":
            self._merge_state(message, record, entry, outcome)
        elif message.op == "forward":
            self._forward(message, record, entry, touched, outcome)
        else:
            entry.profile = Profile(message.subject, anonymous=True)
            entry.erased, entry.reason = True, "forget"

    def _merge_request(
        self, message: IdentityMessage, entry: _Touched[Handle], outcome: BatchOutcome[Handle]
    ) -> None:
        visitor, customer = entry.profile, message.other
        if visitor.merged_into not in {None, customer}:
            log.warning(
                "%s already merged into %s; ignoring identify as %s",
                message.subject,
                visitor.merged_into,
                customer,
            )
            return
        visitor.merged_into = customer
        entry.reason = "merge"
        state = json.loads(encode_profile(visitor))
        reply = IdentityMessage("merge_state", customer, message.subject, message.merge_id, state)
        outcome.outbox.append(reply)

    def _merge_state(
        self,
        message: IdentityMessage,
        record: InputRecord[Handle],
        entry: _Touched[Handle],
        outcome: BatchOutcome[Handle],
    ) -> None:
        customer, marker = entry.profile, f"merge:{message.merge_id}"
        # The visitor is an alias once its state is folded in: the marker alone is forgotten
        # after 256 later events, and a replayed identify's merge would then count twice.
        if marker in customer.recent_event_ids or message.other in customer.aliases:
            outcome.duplicates += 1
            return
        try:
            visitor = decode_profile(json.dumps(message.payload).encode())
        except ProfileDecodeError as exc:
            # Raising would fail the batch on every redelivery: park it with the reason instead.
            reason = Rejection("invalid", "payload", str(exc))
            outcome.dead_letters.append(DeadLetter(record, reason))
            return
        visitor.merged_into = None
        merge_into(customer, visitor, self.config)
        customer.remember(marker, "", -1, self.config)
        entry.reason, entry.erased = "merge", False
        outcome.applied += 1

    def _forward(
        self,
        message: IdentityMessage,
        record: InputRecord[Handle],
        entry: _Touched[Handle],
        touched: dict[str, _Touched[Handle]],
        outcome: BatchOutcome[Handle],
    ) -> None:
        try:
            event = decode_event(str(message.payload).encode(), max_bytes=self.max_event_bytes)
        except (
            EventRejected
        ) as rejected:  # validated once already; only a schema change can land here
            outcome.dead_letters.append(DeadLetter(record, rejected.rejection))
            return
        if message.offset < 0:  # from a worker that did not send offsets: the event id only
            self._apply(event, entry, outcome, IDENTITY_SOURCE, -1)
            return
        # The visitor's offsets, kept apart from the customer's own (see forwarded_source).
        self._apply(event, entry, outcome, message.forwarded_source, message.offset)

    def _load(self, subject: str, anonymous: bool, handle: Handle) -> Profile:
        cached = self.cache.get(subject)
        if cached is not None:
            return cached
        raw = self.store.load(subject, handle)
        if raw is None:
            return Profile(subject, anonymous=anonymous)
        return decode_profile(raw)

    def _members(
        self,
        subject: str,
        profile: Profile,
        rules: RuleSet,
        now: float,
        *,
        previous: Mapping[str, float],
        clusters: BatchClusters | None,
        outcome: BatchOutcome[Handle] | None,
    ) -> tuple[frozenset[str], str]:
        """The segments ``profile`` belongs in at ``now`` and the model version of its cluster.

        None without consent or once merged. The cluster comes first, so rules can test
        in_segment('cluster_…'); ``outcome`` collects the trainer's samples (scans pass None).
        """
        if not profile.consent or profile.merged_into is not None:
            return frozenset(), ""
        view = FeatureView(profile, now, self.config)
        cluster_segments: frozenset[str] = frozenset()
        model_version = ""
        if clusters is not None:
            placement = clusters.place(subject, view, previous)
            cluster_segments = placement.segments
            if placement.membership is not None:
                model_version = placement.membership.model_version
            if placement.sample is not None and outcome is not None:
                outcome.samples.append(placement.sample)
        return rules.members_of(view, cluster_segments), model_version

    def assess(self, raw: bytes, now: float) -> tuple[bool, float | None]:
        """For a stored profile: is its published membership stale, and when is it next due?

        Scans call this after a restart, a rule change or a new cluster model, outside any
        stream event, so it only reads; a stale profile is then re-evaluated through the stream
        like any other.
        """
        profile = decode_profile(raw)
        rules = self.rules()
        clusters = self.clusters.for_batch() if self.clusters is not None else None
        members, _ = self._members(
            profile.id, profile, rules, now, previous=profile.segments, clusters=clusters,
            outcome=None,
        )  # fmt: skip
        stale = members != profile.segments.keys()
        if stale or not profile.consent or profile.merged_into is not None:
            return stale, None
        return False, next_change(
            self._timing(rules, profile), profile, now, recheck_s=self.recheck_s,
            config=self.config,
        )  # fmt: skip

    def _due(self, entry: _Touched[Handle], rules: RuleSet, now: float) -> float | None:
        profile = entry.profile
        if entry.erased or not profile.consent or profile.merged_into is not None:
            return None
        timing = self._timing(rules, profile)
        return next_change(timing, profile, now, recheck_s=self.recheck_s, config=self.config)

    def _timing(self, rules: RuleSet, profile: Profile) -> TimeDependence:
        """The rules' clock dependence, and the cluster vector's when clusters are on: the
        re-evaluation at its due instant re-places and re-samples the customer (``_members``)."""
        if self.clusters is None:
            return rules.timing
        return self.clusters.timing_with(rules.timing, profile)

    def _settle(
        self,
        subject: str,
        entry: _Touched[Handle],
        rules: RuleSet,
        now: float,
        *,
        clusters: BatchClusters | None,
        outcome: BatchOutcome[Handle],
    ) -> MembershipChange | None:
        profile, previous = entry.profile, entry.published
        members, model_version = frozenset[str](), ""
        if not entry.erased:
            members, model_version = self._members(
                subject, profile, rules, now, previous=previous, clusters=clusters, outcome=outcome
            )
        current = {sid: previous.get(sid, now) for sid in sorted(members)}
        profile.segments = current
        if entry.erased:
            self.cache.discard(subject)
            self.store.delete(subject, entry.handle)
        elif entry.dirty or current.keys() != previous.keys():
            self.cache.put(subject, profile)
            self.store.save(subject, encode_profile(profile), entry.handle)
        outcome.due[subject] = self._due(entry, rules, now)
        # A new alias is published even without segments: the visitor's id must resolve.
        aliased = entry.reason == "merge" and profile.merged_into is not None
        unchanged = current.keys() == previous.keys() and not entry.erased and not aliased
        if unchanged and not entry.forced:
            return None
        return MembershipChange(
            customer_id=subject,
            segments=current,
            variants={sid: self._variant(rules, sid, subject) for sid in current},
            entered=frozenset(current.keys() - previous.keys()),
            exited=frozenset(previous.keys() - current.keys()),
            profile_version=profile.version,
            rules_version=rules.version,
            reason=entry.reason,
            erased=entry.erased,
            anonymous=profile.anonymous,
            alias_of=profile.merged_into,
            model_version=model_version,
        )
