"""``segstream status``: workers, versions, lag, freshness, dead letters and Redis on one screen.

Workers are the members of the Faust consumer group ``{app_id}``, found with the Kafka admin
client; each member's subscription carries Faust's metadata, including the URL of its web server
(SEGSTREAM_WEB_ADVERTISED_HOST or SEGSTREAM_WEB_HOST, and the port), where ``/metrics`` and
``/readyz`` are read.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from streams.dependencies import kafka_admin, redis_client
from streams.ops.lag import GroupLag, LagReader
from streams.ops.scrape import Scrape, ready, scrape
from streams.redis_connection import REDIS_FAILURES, refused_connection
from streams.schedule.resync import DONE, Marker
from streams.settings import Settings
from streams.sink.aggregates import get_each, read_meta, read_partitions
from streams.sink.redis_keys import partition_epoch_key
from streams.timefmt import age_text, utc_text, when_text


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    client_host: str
    url: str | None  # the worker's web server, from Faust's group metadata


@dataclass(slots=True)
class WorkerStatus:
    member: Member
    reachable: bool = False
    ready: bool | None = None
    reasons: list[str] = field(default_factory=list)
    rules_version: str | None = None
    model_version: str | None = None
    events_in: float | None = None
    dead_letters: dict[str, float] = field(default_factory=dict)
    freshness_last_s: float | None = None


@dataclass(slots=True)
class RedisStatus:
    up: bool
    ping_ms: float | None = None
    used_memory: str | None = None
    rules_version: str | None = None
    last_write_age_s: float | None = None
    error: str | None = None
    last_write_at: float | None = None  # epoch seconds, for --json; the screen shows UTC
    resyncing: list[int] = field(default_factory=list)  # partitions being rewritten to Redis


@dataclass(slots=True)
class Status:
    app_id: str
    workers: list[WorkerStatus]
    lag: list[GroupLag]
    dead_letters_in_topic: int
    redis: RedisStatus
    kafka_bootstrap: str = ""
    checked_at: float = 0.0  # epoch seconds


def member_url(user_data: bytes | None) -> str | None:
    """The web URL in a Faust member's subscription user data (JSON), if there is one."""
    if not user_data:
        return None
    try:
        url = json.loads(user_data).get("url")
    except (ValueError, AttributeError):
        return None
    return url.rstrip("/") if isinstance(url, str) and url else None


def group_members(settings: Settings) -> list[Member]:
    admin = kafka_admin(settings, timeout_s=10)
    try:
        [group] = admin.describe_consumer_groups([settings.app_id])
    finally:
        admin.close()
    members = []
    for member in group.members:
        metadata = member.member_metadata
        user_data = getattr(metadata, "user_data", None) if metadata else None
        members.append(Member(member.member_id, member.client_host, member_url(user_data)))
    return sorted(members, key=lambda m: m.url or m.member_id)


def worker_status(member: Member) -> WorkerStatus:
    status = WorkerStatus(member)
    if member.url is None:
        return status
    try:
        answer = ready(member.url)
        metrics = scrape(member.url)
    except (OSError, ValueError) as exc:
        status.reasons = [f"unreachable: {exc}"]
        return status
    status.reachable = True
    status.ready, status.reasons = bool(answer["ready"]), list(answer["reasons"])
    _fill_from_metrics(status, metrics)
    return status


def _fill_from_metrics(status: WorkerStatus, metrics: Scrape) -> None:
    status.rules_version = next(iter(metrics.labelled("segstream_rules_info", "version")), None)
    status.model_version = next(iter(metrics.labelled("segstream_model_info", "version")), None)
    status.events_in = metrics.value("segstream_events_in_total")
    dead = metrics.labelled("segstream_dead_letters_total", "reason")
    status.dead_letters = {reason: count for reason, count in dead.items() if count}
    if metrics.value("segstream_event_freshness_seconds_count"):
        status.freshness_last_s = metrics.value("segstream_freshness_last_batch_seconds")


def redis_status(settings: Settings) -> RedisStatus:
    client = redis_client(settings)
    try:
        started = time.perf_counter()
        client.ping()
        ping_ms = (time.perf_counter() - started) * 1000
        memory = client.info("memory").get("used_memory_human")
        prefix = settings.redis_key_prefix
        meta = read_meta(client, prefix, read_partitions(client, prefix, settings.topic_partitions))
        updated = float(meta["updated_at"]) if meta.get("updated_at") else None
        age = time.time() - updated if updated is not None else None
        rules = meta.get("rules_version")
        return RedisStatus(True, ping_ms, memory, rules, age, last_write_at=updated,
                           resyncing=resyncing(client, settings))  # fmt: skip
    except REDIS_FAILURES as exc:
        # Refused credentials or certificates: one line naming the setting to fix.
        return RedisStatus(False, error=refused_connection(exc, settings.redis_url) or str(exc))
    finally:
        client.close()


def resyncing(client: redis.Redis, settings: Settings) -> list[int]:
    """Partitions whose resync marker is missing or not done: their customers are being (or are
    about to be) rewritten to Redis (streams.schedule.resync)."""
    partitions = list(range(settings.topic_partitions))
    keys = [partition_epoch_key(settings.redis_key_prefix, p) for p in partitions]
    values = get_each(client, keys)
    markers = [Marker.decode(value) for value in values]
    return [p for p, m in zip(partitions, markers, strict=True) if m is None or m.state != DONE]


def collect(settings: Settings) -> Status:
    reader = LagReader(settings)
    try:
        lag = reader.read()
        dead_letters = reader.messages_in(settings.dead_letter_topic)
    finally:
        reader.close()
    workers = [worker_status(member) for member in group_members(settings)]
    redis_now = redis_status(settings)
    return Status(settings.app_id, workers, lag, dead_letters, redis_now,
                  kafka_bootstrap=settings.kafka_bootstrap, checked_at=time.time())  # fmt: skip


def problems(status: Status) -> list[str]:
    """Why the deployment is unhealthy (empty: healthy): Redis down, no worker, or a worker that
    is unreachable or not ready. `segstream status` exits 1 when there is any."""
    found = []
    if not status.redis.up:
        found.append("Redis is down")
    if not status.workers:
        found.append("no worker is running")
    for worker in status.workers:
        name = worker.member.url or worker.member.client_host
        if not worker.reachable:
            found.append(f"worker {name} is unreachable")
        elif not worker.ready:
            found.append(f"worker {name} is not ready")
    return found


def status_json(status: Status) -> dict[str, Any]:
    answer = asdict(status)
    answer["lag"] = [{"group": g.group, "topic": g.topic, "total": g.total} for g in status.lag]
    answer["problems"] = problems(status)
    answer["healthy"] = not answer["problems"]
    return answer


def format_status(status: Status) -> str:
    header = f"segstream status of app {status.app_id}"
    if status.kafka_bootstrap:
        header += f", Kafka {status.kafka_bootstrap}"
    if status.checked_at:
        header += f", at {utc_text(status.checked_at)}"
    found = problems(status)
    health = "HEALTH  " + (f"UNHEALTHY: {'; '.join(found)}" if found else "OK")
    lines = [header, health, "", f"WORKERS ({len(status.workers)} in group)"]
    lines.append(
        f"  {'web':<28} {'ready':<6} {'rules':<20} {'model':<12} {'events in':>10} "
        f"{'freshness':>10}  notes"
    )
    for w in status.workers:
        ready_text = "-" if w.ready is None else ("yes" if w.ready else "NO")
        fresh = "-" if w.freshness_last_s is None else age_text(w.freshness_last_s)
        events = "-" if w.events_in is None else f"{w.events_in:,.0f}"
        lines.append(
            f"  {w.member.url or w.member.client_host:<28} {ready_text:<6} "
            f"{w.rules_version or '-':<20} {w.model_version or '-':<12} {events:>10} "
            f"{fresh:>10}  {'; '.join(w.reasons)}"
        )
    if not status.workers:
        lines.append("  none: no worker is in the consumer group (all stopped?)")
    lines += ["", "LAG (committed offsets)"]
    for group in status.lag:
        lines.append(f"  {group.group:<28} {group.topic:<32} {group.total:>10,}")
    by_reason: dict[str, float] = {}
    for w in status.workers:
        for reason, count in w.dead_letters.items():
            by_reason[reason] = by_reason.get(reason, 0) + count
    reasons = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(by_reason.items())) or "none"
    lines += ["", f"DEAD LETTERS  {status.dead_letters_in_topic:,} in the topic; "
              f"since the workers started: {reasons}"]  # fmt: skip
    lines += ["", _format_redis(status.redis)]
    if status.redis.resyncing:
        partitions = ", ".join(str(p) for p in status.redis.resyncing)
        lines.append(f"RESYNC  partitions {partitions} being rewritten to Redis")
    return "\n".join(lines)


def _format_redis(r: RedisStatus) -> str:
    if not r.up:
        return f"REDIS  DOWN: {r.error}"
    if r.last_write_at is not None:
        age = when_text(r.last_write_at, r.last_write_at + (r.last_write_age_s or 0.0))
    elif r.last_write_age_s is not None:
        age = f"{age_text(r.last_write_age_s)} ago"
    else:
        age = "never"
    return (
        f"REDIS  up, ping {r.ping_ms:.1f} ms, memory {r.used_memory}, "
        f"last write {age} (rules {r.rules_version or '-'})"
    )
