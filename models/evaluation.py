"""Measuring the clustering: populations with known answers, training as the trainer does, churn.

Used by the quality and stability tests and by ``bench/clusters.py``; nothing here runs in a worker.

* :func:`simulated_population` replays the traffic simulator (whose personas are the ground truth)
  through profiles in event order, samples touched profiles exactly as a worker does
  (:class:`models.segments.ClusterSegments`), and keeps every customer's final vector. Like a
  worker, the replay also re-places and re-samples a customer at each instant its vector moves
  with the clock alone (a 30-day window edge), up to the end of the history.
* :func:`cdnow_population` does the same for the CDNOW purchase history (no ground truth), and
  :func:`events_population` for a file of JSON events (``segstream clusters evaluate --events``).
* :func:`train` feeds samples to a :class:`Trainer` and collects the snapshots it publishes.
* :func:`churn` is the share of customers whose cluster changes between consecutive snapshots.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from models.assign import Assigner
from models.features import FeatureExtractor
from models.segments import ClusterSegments, Sample
from models.snapshot import ClusterSnapshot
from models.trainer import Trainer, TrainerConfig
from rules.timing import TimeDependence, next_change
from streams.events import EventRejected, decode_event
from streams.profile import Profile, apply_event
from streams.profile.features import FeatureView
from streams.replay.cdnow import DEFAULT_PATH, CdnowPurchase, purchase_event, read_cdnow
from streams.traffic import PERSONAS, generate, make_shoppers
from streams.traffic.generator import DAY_S, Shopper, session_events

Vector = tuple[float, ...]
Progress = Callable[[int], None]  # called with the events replayed so far
MAX_EVENT_BYTES = 65_536
PROGRESS_EVERY = 10_000  # events between two progress calls
RECHECK_S = 3600.0  # a worker's default re-check of what no edge bounds (rules_recheck_s)
NO_RULES = TimeDependence()  # the replay evaluates no rules: its timers are the clusters' alone


@dataclass(slots=True)
class Population:
    customers: list[str] = field(default_factory=list)
    vectors: list[Vector] = field(default_factory=list)  # final vectors, one per customer
    truth: list[str] = field(default_factory=list)  # known group per customer ("" if unknown)
    samples: list[Sample] = field(default_factory=list)  # what workers would send, in order
    profiles: list[Profile] = field(default_factory=list)  # final profiles, one per customer
    now: float = 0.0  # when the final vectors were read
    events: int = 0


class _Replay:
    """Profiles as a worker keeps them: each event applied and its customer placed, and each timer
    the worker would set fired at its due instant, placing the customer again then (issue 19: a
    customer whose 30-day activity leaves the window is sampled as it is now, not as it was at its
    last event). ``on_sample`` hears the instant of every sample sent."""

    def __init__(self, segments: ClusterSegments, recheck_s: float = RECHECK_S) -> None:
        self.segments = segments
        self.batch = segments.for_batch()  # no model: only sampling decisions
        self.recheck_s = recheck_s
        self.profiles: dict[str, Profile] = {}
        self.samples: list[Sample] = []
        self.now, self.count = 0.0, 0
        self.on_sample: Callable[[float], None] | None = None
        self._due: dict[str, float] = {}  # each customer's pending timer
        self._timers: list[tuple[float, str]] = []  # heap; entries a later event replaced linger

    def event(self, subject: str, raw: bytes, ts: float) -> None:
        event = decode_event(raw, max_bytes=MAX_EVENT_BYTES)
        self.now, self.count = max(self.now, ts), self.count + 1
        self.advance(self.now)
        if event.type == "forget":  # the worker erases the profile, and its timer finds nothing
            self.profiles.pop(subject, None)
            self._due.pop(subject, None)
            return
        profile = self.profiles.setdefault(subject, Profile(subject))
        apply_event(profile, event)
        self._place(subject, profile, ts)

    def advance(self, until: float) -> None:
        """Fire every timer due by ``until``, in time order."""
        timers = self._timers
        while timers and timers[0][0] <= until:
            due, subject = heapq.heappop(timers)
            if self._due.get(subject) == due:
                del self._due[subject]
                self._place(subject, self.profiles[subject], due)

    def _place(self, subject: str, profile: Profile, at: float) -> None:
        placement = self.batch.place(subject, FeatureView(profile, at), {})
        if placement.sample is not None:
            self.samples.append(placement.sample)
            if self.on_sample is not None:
                self.on_sample(at)
        timing = self.segments.timing_with(NO_RULES, profile)
        due = next_change(timing, profile, at, recheck_s=self.recheck_s)
        if due is None:
            self._due.pop(subject, None)
        else:
            self._due[subject] = due
            heapq.heappush(self._timers, (due, subject))


def _replay(
    keyed_events: Iterable[tuple[str, bytes, float]],
    segments: ClusterSegments,
    progress: Progress | None = None,
) -> _Replay:
    """Apply events in order, sampling as a worker would, up to the end of the history."""
    replay = _Replay(segments)
    for subject, raw, ts in keyed_events:
        replay.event(subject, raw, ts)
        if progress is not None and replay.count % PROGRESS_EVERY == 0:
            progress(replay.count)
    replay.advance(replay.now)
    return replay


def _population(replay: _Replay, truth: dict[str, str]) -> Population:
    """Every customer old enough to be placed, as it is at the end of the replay."""
    profiles, segments, now = replay.profiles, replay.segments, replay.now
    population = Population(samples=replay.samples, now=now, events=replay.count)
    for subject in sorted(profiles):
        view = FeatureView(profiles[subject], now)
        if view["sessions_lifetime"] >= segments.min_sessions:
            population.customers.append(subject)
            population.profiles.append(profiles[subject])
            population.vectors.append(segments.extractor.vector(view))
            population.truth.append(truth.get(subject, ""))
    return population


def simulated_population(
    extractor: FeatureExtractor,
    *,
    customers: int,
    days: float,
    seed: int,
    sample_rate: float,
    min_sessions: int,
    start: float = 1.79e9,
) -> Population:
    """Simulated shoppers with their persona as truth; visitors are folded into their customer."""
    truth = {s.customer_id: s.persona.name for s in make_shoppers(customers, seed=seed)}
    events = (
        (e.key.removeprefix("anon-"), json.dumps(e.payload).encode(), e.ts)
        for e in generate(customers, seed=seed, start=start, days=days)
    )
    segments = _sampler(extractor, sample_rate, min_sessions)
    return _population(_replay(events, segments), truth)


@dataclass(slots=True)
class SwitchedPopulation:
    """A simulated run in which half of the shoppers change persona mid-run."""

    population: Population  # truth: every customer's persona after the switch
    switch_sample: int  # samples sent before the switch
    before: Population  # every customer's vector and persona just before the switch
    # Every customer's vector when the n-th sample was sent, for n a multiple of ``every``.
    checkpoints: dict[int, list[Vector]] = field(default_factory=dict)


def switched_population(
    extractor: FeatureExtractor,
    *,
    customers: int,
    days: float,
    seed: int,
    sample_rate: float,
    min_sessions: int,
    every: int,
    start: float = 1.79e9,
) -> SwitchedPopulation:
    """Simulated shoppers of whom every second one switches to the next persona half-way through
    ``days``; every customer's vector is recorded each ``every`` samples after the switch."""
    shoppers = make_shoppers(customers, seed=seed)
    segments = _sampler(extractor, sample_rate, min_sessions)
    switch_at = start + days * DAY_S / 2
    first = _session_events(shoppers, start=start, end=switch_at, origin=start)
    replay = _replay(first, segments)
    truth = {s.customer_id: s.persona.name for s in shoppers}
    before = _population(replay, truth)
    before.samples = []  # the vectors at the switch; the samples go on in ``population``
    for shopper in shoppers[::2]:
        shopper.persona = PERSONAS[(PERSONAS.index(shopper.persona) + 1) % len(PERSONAS)]
    truth = {s.customer_id: s.persona.name for s in shoppers}
    switched = SwitchedPopulation(Population(), len(replay.samples), before)

    def checkpoint(at: float) -> None:
        if len(replay.samples) % every == 0:
            switched.checkpoints[len(replay.samples)] = [
                segments.extractor.vector(FeatureView(replay.profiles[c], at))
                for c in before.customers
            ]

    replay.on_sample = checkpoint
    second = _session_events(shoppers, start=switch_at, end=start + days * DAY_S, origin=start)
    for subject, raw, ts in second:
        replay.event(subject, raw, ts)
    replay.advance(replay.now)
    switched.population = _population(replay, truth)
    return switched


def _session_events(
    shoppers: Sequence[Shopper], *, start: float, end: float, origin: float
) -> Iterator[tuple[str, bytes, float]]:
    """The shoppers' sessions between ``start`` and ``end`` as :func:`streams.traffic.generate`
    makes them (a lapsing persona stops coming ``lapses_after_days`` after ``origin``)."""
    heap = [(start + _gap(s), n) for n, s in enumerate(shoppers)]
    heapq.heapify(heap)
    while heap and heap[0][0] < end:
        ts, n = heapq.heappop(heap)
        lapse = shoppers[n].persona.lapses_after_days
        if lapse is not None and ts > origin + lapse * DAY_S:
            continue
        for event in session_events(shoppers[n], ts):
            yield event.key.removeprefix("anon-"), json.dumps(event.payload).encode(), event.ts
        heapq.heappush(heap, (ts + _gap(shoppers[n]), n))


def _gap(shopper: Shopper) -> float:
    return shopper.rng.expovariate(shopper.persona.sessions_per_day) * DAY_S


def cdnow_population(
    extractor: FeatureExtractor,
    *,
    sample_rate: float,
    min_sessions: int,
    path: Path = DEFAULT_PATH,
    customers: int | None = None,
    progress: Progress | None = None,
) -> Population:
    """The CDNOW purchases replayed in date order (the file is sorted by customer); ``customers``:
    only the purchases of the first that many customers of the file."""
    rows = list(read_cdnow(path))
    if customers is not None:
        kept = set(list(dict.fromkeys(row.customer_id for row in rows))[:customers])
        rows = [row for row in rows if row.customer_id in kept]
    rows.sort(key=lambda row: (row.date, row.row))
    segments = _sampler(extractor, sample_rate, min_sessions)
    return _population(_replay(_cdnow_events(rows), segments, progress), {})


def events_population(
    extractor: FeatureExtractor,
    raw_events: Iterable[bytes],
    *,
    sample_rate: float,
    min_sessions: int,
    progress: Progress | None = None,
) -> tuple[Population, int]:
    """JSON events in the order given, each on its subject (customer id, else anonymous id), and
    how many did not validate (skipped, as a worker dead-letters them)."""
    rejected: Counter[str] = Counter()
    segments = _sampler(extractor, sample_rate, min_sessions)
    keyed = _keyed_events(raw_events, rejected)
    return _population(_replay(keyed, segments, progress), {}), rejected["events"]


def _keyed_events(
    raw_events: Iterable[bytes], rejected: Counter[str]
) -> Iterator[tuple[str, bytes, float]]:
    for raw in raw_events:
        try:
            event = decode_event(raw, max_bytes=MAX_EVENT_BYTES)
        except EventRejected:
            rejected["events"] += 1
            continue
        yield event.subject_id, raw, event.epoch_s


def _cdnow_events(rows: Iterable[CdnowPurchase]) -> Iterator[tuple[str, bytes, float]]:
    for row in rows:
        key, raw = purchase_event(row)
        event = decode_event(raw, max_bytes=MAX_EVENT_BYTES)
        yield key, raw, event.ts.timestamp()


def _sampler(extractor: FeatureExtractor, rate: float, min_sessions: int) -> ClusterSegments:
    return ClusterSegments(
        extractor, min_sessions=min_sessions, sample_rate=rate, current=lambda: None
    )


def train(config: TrainerConfig, samples: Iterable[Sample]) -> list[ClusterSnapshot]:
    """Every snapshot a trainer publishes while learning ``samples`` in order."""
    trainer = Trainer(config)
    snapshots = []
    for offset, (key, vector) in enumerate(samples):
        trainer.learn(vector, key=key, partition=0, offset=offset)
        if trainer.due():
            snapshots.append(trainer.publish(now=float(offset)))
    return snapshots


def assign_all(snapshot: ClusterSnapshot, vectors: Sequence[Vector]) -> list[str]:
    """The segment id each vector is published with under ``snapshot``."""
    assigner = Assigner(snapshot)
    return [assigner.nearest(vector)[0].segment_id for vector in vectors]


def churn(snapshots: Sequence[ClusterSnapshot], vectors: Sequence[Vector]) -> list[float]:
    """Percent of ``vectors`` whose segment changes between each pair of consecutive snapshots."""
    labels = [assign_all(snapshot, vectors) for snapshot in snapshots]
    return [
        100.0 * sum(a != b for a, b in zip(before, after, strict=True)) / len(vectors)
        for before, after in itertools.pairwise(labels)
    ]


def stationary_samples(vectors: Sequence[Vector], count: int, seed: int) -> list[Sample]:
    """``count`` draws with replacement from a fixed population of customers, each keyed by its
    customer: customers whose vectors never change, sampled again and again."""
    rng = random.Random(seed)
    draws = (rng.randrange(len(vectors)) for _ in range(count))
    return [(f"customer{index}", vectors[index]) for index in draws]


def standardize(vectors: Sequence[Vector]) -> list[list[float]]:
    """Z-scores per feature (a constant feature becomes 0), for offline k-means baselines."""
    columns = list(zip(*vectors, strict=True))
    means = [sum(column) / len(column) for column in columns]
    stds = [
        (sum((x - m) ** 2 for x in column) / len(column)) ** 0.5
        for column, m in zip(columns, means, strict=True)
    ]
    return [
        [(x - m) / s if s > 0 else 0.0 for x, m, s in zip(vector, means, stds, strict=True)]
        for vector in vectors
    ]
