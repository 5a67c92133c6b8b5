"""The whole per-batch computation, free of Faust, Kafka and Redis so it can be tested and timed
alone.

A batch of raw records goes in; out come the dead letters, the profiles to save, and the
membership changes to publish. The stream layer only moves bytes in and out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from rules import RuleSet
from streams.events import EventRejected, Rejection, decode_event
from streams.events.schemas import Event
from streams.pipeline.cache import ProfileCache
from streams.profile import (
    DEFAULT_CONFIG,
    Profile,
    ProfileConfig,
    apply_event,
    decode_profile,
    encode_profile,
)
from streams.profile.features import FeatureView

Handle = TypeVar("Handle")
Handle_contra = TypeVar("Handle_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class InputRecord(Generic[Handle]):
    """One Kafka message; ``handle`` is whatever the stream layer needs to write its key's state."""

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
    entered: frozenset[str]
    exited: frozenset[str]
    profile_version: int
    rules_version: str
    reason: str  # event | forget | consent


class ProfileStore(Protocol[Handle_contra]):
    def load(self, key: str, handle: Handle_contra) -> bytes | None: ...

    def save(self, key: str, value: bytes, handle: Handle_contra) -> None: ...

    def delete(self, key: str, handle: Handle_contra) -> None: ...


@dataclass(slots=True)
class BatchOutcome(Generic[Handle]):
    dead_letters: list[DeadLetter[Handle]] = field(default_factory=list)
    changes: list[MembershipChange] = field(default_factory=list)
    applied: int = 0
    duplicates: int = 0


@dataclass(slots=True)
class _Touched(Generic[Handle]):
    profile: Profile
    handle: Handle
    forgotten: bool = False
    reason: str = "event"


@dataclass(frozen=True, slots=True)
class BatchProcessor(Generic[Handle]):
    """Applies batches of events to profiles held in ``store`` and evaluates ``rules``."""

    store: ProfileStore[Handle]
    rules: Callable[[], RuleSet]
    max_event_bytes: int
    config: ProfileConfig = DEFAULT_CONFIG
    cache: ProfileCache = field(default_factory=lambda: ProfileCache(100_000))

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
            event = self._decode(record, outcome)
            if event is not None:
                self._apply(record, event, touched, outcome)
        rules = self.rules()
        for subject, entry in touched.items():
            change = self._settle(subject, entry, rules, now)
            if change is not None:
                outcome.changes.append(change)
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

    def _apply(
        self,
        record: InputRecord[Handle],
        event: Event,
        touched: dict[str, _Touched[Handle]],
        outcome: BatchOutcome[Handle],
    ) -> None:
        subject = event.subject_id
        entry = touched.get(subject)
        if entry is None:
            entry = touched[subject] = _Touched(
                self._load(subject, event, record.handle), record.handle
            )
        if event.type == "forget":
            entry.forgotten, entry.reason = True, "forget"
            entry.profile = Profile(subject, anonymous=event.customer_id is None)
            outcome.applied += 1
            return
        if apply_event(
            entry.profile, event, source=record.source, offset=record.offset, config=self.config
        ):
            outcome.applied += 1
            if event.type == "consent":
                entry.reason = "consent"
        else:
            outcome.duplicates += 1

    def _load(self, subject: str, event: Event, handle: Handle) -> Profile:
        cached = self.cache.get(subject)
        if cached is not None:
            return cached
        raw = self.store.load(subject, handle)
        if raw is None:
            return Profile(subject, anonymous=event.customer_id is None)
        return decode_profile(raw)

    def _settle(
        self, subject: str, entry: _Touched[Handle], rules: RuleSet, now: float
    ) -> MembershipChange | None:
        profile = entry.profile
        previous = profile.segments
        if entry.forgotten or not profile.consent:
            current: dict[str, float] = {}
        else:
            members = rules.members_of(FeatureView(profile, now, self.config))
            current = {sid: previous.get(sid, now) for sid in sorted(members)}
        profile.segments = current
        if entry.forgotten:
            self.cache.discard(subject)
            self.store.delete(subject, entry.handle)
        else:
            self.cache.put(subject, profile)
            self.store.save(subject, encode_profile(profile), entry.handle)
        if current.keys() == previous.keys() and not entry.forgotten:
            return None
        return MembershipChange(
            customer_id=subject,
            segments=current,
            entered=frozenset(current.keys() - previous.keys()),
            exited=frozenset(previous.keys() - current.keys()),
            profile_version=profile.version,
            rules_version=rules.version,
            reason=entry.reason,
        )
