"""Reading a worker's web endpoints: its Prometheus text, its readiness."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

TIMEOUT_S = 3.0

# The sample names a declared family of each type has, even before it has samples.
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
             "summary": ("_count", "_sum")}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


class Scrape:
    """The samples of one ``/metrics`` page, and the metric families it declares."""

    def __init__(self, text: str) -> None:
        self.families: set[str] = set()
        self.samples: list[Sample] = []
        for family in text_string_to_metric_families(text):
            self.families.add(family.name)
            self.families.update(family.name + s for s in _SUFFIXES.get(family.type, ()))
            self.samples.extend(Sample(s.name, dict(s.labels), s.value) for s in family.samples)

    @property
    def names(self) -> set[str]:
        """Every name a query can use: of the samples, and those the declared families will have."""
        return self.families | {s.name for s in self.samples}

    def value(self, name: str, **labels: str) -> float | None:
        """The sum of the samples of ``name`` whose labels include ``labels``; None if none."""
        found = [s.value for s in self._matching(name, labels)]
        return sum(found) if found else None

    def labelled(self, name: str, label: str) -> dict[str, float]:
        return {s.labels[label]: s.value for s in self.samples if s.name == name}

    def _matching(self, name: str, labels: dict[str, str]) -> Iterable[Sample]:
        for sample in self.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                yield sample


def fetch(url: str, timeout_s: float = TIMEOUT_S) -> tuple[int, bytes]:
    """(HTTP status, body) of a GET; error statuses are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # a worker's web port
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def scrape(base_url: str) -> Scrape:
    _, body = fetch(f"{base_url}/metrics")
    return Scrape(body.decode())


def ready(base_url: str) -> dict[str, Any]:
    status, body = fetch(f"{base_url}/readyz")
    answer: dict[str, Any] = json.loads(body)
    answer["status"] = status
    return answer
