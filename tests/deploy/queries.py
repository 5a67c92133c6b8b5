"""The metric names that dashboard and alert queries use, to check them against a real worker."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "segstream.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"

# Names the worker exports start with these; labels, functions and keywords never do.
_METRIC = re.compile(r"\b(?:segstream|process)_[a-z0-9_]+\b")
_RECORDED = re.compile(r"\bsegstream:[a-z0-9_:]+\b")
_STRINGS = re.compile(r'"[^"]*"')


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_queries() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]


def alert_queries() -> list[str]:
    return [rule["expr"] for rule in alert_rules()]


def metric_names(query: str) -> set[str]:
    """Exported metric names a PromQL query reads (recording rules and ``up`` aside)."""
    return set(_METRIC.findall(_STRINGS.sub('""', query)))


def recorded_names(query: str) -> set[str]:
    return set(_RECORDED.findall(query))


def unknown_names(queries: list[str], exported: set[str]) -> dict[str, set[str]]:
    """Each query that names a metric not in ``exported``, with those names."""
    found = {query: metric_names(query) - exported for query in queries}
    return {query: names for query, names in found.items() if names}
