"""Measuring the clustering: populations with known answers, training as the trainer does, churn.

Used by the quality and stability tests and by ``bench/clusters.py``; nothing here runs in a worker.

* :func:`simulated_population` replays the traffic simulator (whose personas are the ground truth)
  through profiles in event order, samples touched profiles exactly as a worker does
  (:class:`models.segments.ClusterSegments`), and keeps every customer's final vector.
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


@dataclass(slots=True)
class Population:
    customers: list[str] = field(default_factory=list)
    vectors: list[Vector] = field(default_factory=list)  # final vectors, one per customer
    truth: list[str] = field(default_factory=list)  # known group per customer ("" if unknown)
    samples: list[Sample] = field(default_factory=list)  # what workers would send, in order
    profiles: list[Profile] = field(default_factory=list)  # final profiles, one per customer
    now: float = 0.0  # when the final vectors were read
    events: int = 0


def _replay(
    keyed_events: Iterable[tuple[str, bytes, float]],
    segments: ClusterSegments,
    progress: Progress | None = None,
) -> tuple[dict[str, Profile], list[Sample], float, int]:
    """Apply events in order; sample each touched profile as a worker would."""
    profiles: dict[str, Profile] = {}
    samples: list[Sample] = []
    batch = segments.for_batch()  # no model: only sampling decisions
    now, count = 0.0, 0
    for subject, raw, ts in keyed_events:
        event = decode_event(raw, max_bytes=MAX_EVENT_BYTES)
        now, count = max(now, ts), count + 1
        if event.type == "forget":  # the worker erases the profile
            profiles.pop(subject, None)
            continue
        profile = profiles.setdefault(subject, Profile(subject))
        apply_event(profile, event)
        placement = batch.place(subject, FeatureView(profile, ts), {})
        if placement.sample is not None:
            samples.append(placement.sample)
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    return profiles, samples, now, count


def _population(
    *,
    profiles: dict[str, Profile],
    samples: list[Sample],
    now: float,
    events: int,
    segments: ClusterSegments,
    truth: dict[str, str],
) -> Population:
    population = Population(samples=samples, now=now, events=events)
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
    profiles, samples, now, count = _replay(events, segments)
    return _population(
        profiles=profiles, samples=samples, now=now, events=count, segments=segments, truth=truth
    )


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
    profiles, samples, now, count = _replay(first, segments)
    truth = {s.customer_id: s.persona.name for s in shoppers}
    before = _population(
        profiles=profiles, samples=[], now=now, events=count, segments=segments, truth=truth
    )
    for shopper in shoppers[::2]:
        shopper.persona = PERSONAS[(PERSONAS.index(shopper.persona) + 1) % len(PERSONAS)]
    truth = {s.customer_id: s.persona.name for s in shoppers}
    switched = SwitchedPopulation(Population(), len(samples), before)
    second = _session_events(shoppers, start=switch_at, end=start + days * DAY_S, origin=start)
    for subject, raw, ts in second:
        profile = profiles.setdefault(subject, Profile(subject))
        apply_event(profile, decode_event(raw, max_bytes=MAX_EVENT_BYTES))
        now, count = max(now, ts), count + 1
        placement = segments.for_batch().place(subject, FeatureView(profile, ts), {})
        if placement.sample is not None:
            samples.append(placement.sample)
            if len(samples) % every == 0:
                switched.checkpoints[len(samples)] = [
                    segments.extractor.vector(FeatureView(profiles[c], ts))
                    for c in before.customers
                ]
    switched.population = _population(
        profiles=profiles, samples=samples, now=now, events=count, segments=segments, truth=truth
    )
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
    profiles, samples, now, count = _replay(_cdnow_events(rows), segments, progress)
    return _population(
        profiles=profiles, samples=samples, now=now, events=count, segments=segments, truth={}
    )


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
    profiles, samples, now, count = _replay(keyed, segments, progress)
    population = _population(
        profiles=profiles, samples=samples, now=now, events=count, segments=segments, truth={}
    )
    return population, rejected["events"]


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
