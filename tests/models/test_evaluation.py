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
