"""Sends simulated traffic to Kafka at a steady rate, with progress lines and a truth file."""

from __future__ import annotations

import csv
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kafka import KafkaProducer
from kafka.errors import KafkaError

from streams.dependencies import ensure_topics
from streams.errors import SegstreamError
from streams.kafka_security import kafka_python_options
from streams.settings import Settings
from streams.traffic.generator import DAY_S, Shopper, SimEvent, generate, live, make_shoppers

PROGRESS_EVERY_S = 5.0


class SimulationError(SegstreamError):
    pass


@dataclass(slots=True)
class SimulationReport:
    sent: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0


def write_truth(path: Path, shoppers: Iterable[Shopper]) -> None:
    """customer_id,persona for every simulated shopper (anonymous ids map to their customer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["customer_id", "persona", "anonymous_id"])
        for shopper in shoppers:
            writer.writerow([shopper.customer_id, shopper.persona.name, shopper.anonymous_id or ""])


def run_shoppers(customers: int, *, seed: int) -> tuple[str, list[Shopper]]:
    """The crowd of ``seed`` with a new run id: the same customers, ids no earlier run used."""
    run = uuid.uuid4().hex[:8]
    return run, make_shoppers(customers, seed=seed, run=run)


def read_truth(path: Path) -> dict[str, str]:
    with path.open(newline="") as lines:
        return {row["customer_id"]: row["persona"] for row in csv.DictReader(lines)}


def run_simulation(
    settings: Settings,
    *,
    customers: int,
    rate: float,
    duration_s: float | None,
    truth_path: Path | None,
    seed: int,
    history_days: float = 0.0,
    log: Callable[[str], None] = print,
) -> SimulationReport:
    """Backfill ``history_days`` of history (as fast as possible), then live traffic at ``rate``."""
    run, shoppers = run_shoppers(customers, seed=seed)
    log(f"run {run}: its event, session and order ids contain {run!r}")
    if truth_path is not None:
        write_truth(truth_path, shoppers)
        log(f"ground truth for {customers} shoppers written to {truth_path}")
    producer = _producer(settings)
    report = SimulationReport()
    started = time.monotonic()
    try:
        if history_days > 0:
            now = time.time()
            backfill = generate(
                customers, seed=seed, start=now - history_days * DAY_S, days=history_days, run=run
            )
            _send_all(
                producer, settings, backfill, report,
                rate=0.0, duration_s=None, log=log, restamp=False,
            )  # fmt: skip
        live_events = live(shoppers, seed=seed, now=time.time())
        _send_all(
            producer, settings, live_events, report,
            rate=rate, duration_s=duration_s, log=log, restamp=True,
        )  # fmt: skip
    except KeyboardInterrupt:
        log("stopping")
    finally:
        producer.flush(30)
        producer.close()
        report.elapsed_s = time.monotonic() - started
    log(f"sent {report.sent} events in {report.elapsed_s:.1f}s: {dict(report.by_type)}")
    return report


def _producer(settings: Settings) -> KafkaProducer:
    try:
        ensure_topics(settings)
        return KafkaProducer(**kafka_python_options(settings), linger_ms=20, acks="all", retries=5)
    except KafkaError as exc:
        raise SimulationError(
            f"cannot reach Kafka at {settings.kafka_bootstrap} ({exc.__class__.__name__}): "
            "start it with `segstream dev up`"
        ) from exc


def _send_all(
    producer: KafkaProducer,
    settings: Settings,
    events: Iterable[SimEvent],
    report: SimulationReport,
    *,
    rate: float,
    duration_s: float | None,
    log: Callable[[str], None],
    restamp: bool,
) -> None:
    started = last_report = time.monotonic()
    sent_at_start = report.sent
    for event in events:
        now = time.monotonic()
        if duration_s is not None and now - started >= duration_s:
            return
        if rate > 0:
            due = started + (report.sent - sent_at_start) / rate
            if due > now:
                time.sleep(due - now)
        payload = event.payload
        if restamp:  # live traffic happens now
            payload = {**payload, "ts": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
        producer.send(
            settings.events_topic,
            key=event.key.encode(),
            value=json.dumps(payload, separators=(",", ":")).encode(),
        )
        report.sent += 1
        report.by_type[str(payload["type"])] += 1
        if now - last_report >= PROGRESS_EVERY_S:
            last_report = now
            elapsed = now - started
            log(f"sent {report.sent} events ({(report.sent - sent_at_start) / elapsed:.0f}/s)")
