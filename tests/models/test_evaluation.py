"""Populations replayed from a file of JSON events, as ``segstream clusters evaluate --events``."""

from __future__ import annotations

import json

from models import evaluation
from models.features import FeatureExtractor

EXTRACTOR = FeatureExtractor.parse("log:avg_order_value, orders_lifetime")


def _purchase(n: int, customer: str, total: str) -> bytes:
    return json.dumps({
        "type": "purchase", "event_id": f"e{n}", "customer_id": customer,
        "ts": f"2024-01-0{n}T00:00:00Z", "order_id": f"o{n}", "total": total,
    }).encode()  # fmt: skip


def test_events_population_replays_valid_events_and_counts_the_others() -> None:
    forget = json.dumps(
        {"type": "forget", "event_id": "e9", "customer_id": "c", "ts": "2024-01-09T00:00:00Z"}
    ).encode()
    raw = [_purchase(1, "a", "10.00"), b"{not json", _purchase(2, "b", "5.00"),
           _purchase(3, "a", "30.00"), _purchase(4, "c", "1.00"), forget]  # fmt: skip
    heard: list[int] = []
    population, rejected = evaluation.events_population(
        EXTRACTOR, raw, sample_rate=1.0, min_sessions=0, progress=heard.append
    )
    assert rejected == 1
    assert population.events == 5
    assert population.customers == ["a", "b"]  # c was forgotten
    assert [round(v[1]) for v in population.vectors] == [2, 1]
    assert len(population.samples) == 4  # every touch of a sampled customer
    assert heard == []  # fewer events than one progress step


def _bought(n: int, customer: str, ts: str) -> bytes:
    return json.dumps({
        "type": "purchase", "event_id": f"e{n}", "customer_id": customer, "ts": ts,
        "order_id": f"o{n}", "total": "10.00",
    }).encode()  # fmt: skip


def test_the_replay_samples_a_customer_again_when_its_window_activity_ages_out() -> None:
    """As a worker's timer does: the trainer's last vector of ``a`` is its current one (no order
    in the last 30 days), not the one of its last purchase, two months before the history ends."""
    raw = [_bought(1, "a", "2024-01-01T00:00:00Z"), _bought(2, "b", "2024-03-01T00:00:00Z")]
    population, _ = evaluation.events_population(
        FeatureExtractor.parse("orders_30d"), raw, sample_rate=1.0, min_sessions=0
    )
    assert population.customers == ["a", "b"]
    assert population.vectors == [(0.0,), (1.0,)]
    assert [vector for _, vector in population.samples] == [(1.0,), (0.0,), (1.0,)]
    latest = dict(population.samples)
    assert [latest[key] for key, _ in population.samples[1:]] == population.vectors


def test_a_vector_that_does_not_age_is_sampled_only_on_events() -> None:
    raw = [_bought(1, "a", "2024-01-01T00:00:00Z"), _bought(2, "b", "2024-03-01T00:00:00Z")]
    population, _ = evaluation.events_population(
        FeatureExtractor.parse("orders_lifetime"), raw, sample_rate=1.0, min_sessions=0
    )
    assert [vector for _, vector in population.samples] == [(1.0,), (1.0,)]
