"""Start-up checks: wait for Kafka and Redis, create topics, and fail with one clear line."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import redis
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.errors import UnavailableError
from streams.kafka_login import raise_if_refused
from streams.kafka_security import kafka_python_options
from streams.redis_connection import RedisRefusedError, refused_connection, sync_client
from streams.settings import Settings
from streams.topics import batches_topic, changes_topic, rules_topic

# Envelopes carry up to SEGSTREAM_ENVELOPE_MAX_BYTES plus one record of up to the broker's usual
# 1 MiB message limit.
BATCHES_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# Too few brokers for the replication factor: asked again this long before refusing.
BROKERS_WAIT_S = 10.0
BROKERS_POLL_S = 0.5


T = TypeVar("T")


class DependencyError(UnavailableError):
    """A dependency is unreachable; the message is one line: the cause and what to do."""


def dependency_timeout(settings: Settings, default_s: float) -> float:
    """How long to wait for Kafka or Redis at start: ``default_s`` (dev up may still be starting
    them), unless SEGSTREAM_DEPENDENCY_TIMEOUT_S says otherwise (scripts and tests that want a
    quick answer).

    >>> dependency_timeout(Settings(dependency_timeout_s=1.5), 30.0)
    1.5
    """
    override = settings.dependency_timeout_s
    return default_s if override is None else override


def kafka_unreachable(settings: Settings, exc: BaseException) -> str:
    return (
        f"Kafka unreachable at {settings.kafka_bootstrap} ({exc.__class__.__name__}): "
        "start it with `segstream dev up` or set SEGSTREAM_KAFKA_BOOTSTRAP"
    )


def redis_unreachable(settings: Settings, exc: BaseException) -> str:
    return (
        f"Redis unreachable at {settings.redis_url} ({exc}): "
        "start it with `segstream dev up` or set SEGSTREAM_REDIS_URL"
    )


def _retry(
    attempt: Callable[[], T],
    *,
    timeout_s: float,
    pause_s: float,
    errors: tuple[type[Exception], ...],
    failure: Callable[[Exception], str],
) -> T:
    """``attempt()`` until it succeeds or ``timeout_s`` passes; then DependencyError(failure)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return attempt()
        except errors as exc:
            if time.monotonic() >= deadline:
                raise DependencyError(failure(exc)) from exc
            time.sleep(pause_s)


@contextmanager
def _quiet_kafka_client() -> Iterator[None]:
    """kafka-python logs each failed connection attempt (a dozen lines a second); while we wait
    for a broker, the one line DependencyError gives on timeout says it all."""
    logger = logging.getLogger("kafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def kafka_admin(settings: Settings, timeout_s: float = 30.0) -> KafkaAdminClient:
    """An admin client, retrying until ``timeout_s``; raises DependencyError naming the fix, or
    KafkaLoginError at once when the broker refuses our credentials or certificates."""
    with _quiet_kafka_client():
        return _retry(
            lambda: _new_admin(settings),
            timeout_s=dependency_timeout(settings, timeout_s),
            pause_s=0.5,
            errors=(KafkaError, ssl.SSLError),
            failure=lambda exc: kafka_unreachable(settings, exc),
        )


def _new_admin(settings: Settings) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(
            **kafka_python_options(settings),
            client_id=f"{settings.app_id}-admin",
            request_timeout_ms=10_000,
        )
    except (KafkaError, ssl.SSLError) as exc:
        # Retrying a refused password or certificate cannot help: one line now, not in 30 s.
        raise_if_refused(settings, exc)
        raise


def topic_configs(settings: Settings, **configs: str) -> dict[str, str]:
    """``configs`` plus what every topic segstream creates carries: the in-sync replicas an
    acks=all write needs (SEGSTREAM_TOPIC_MIN_INSYNC_REPLICAS).

    >>> topic_configs(Settings(), **{"cleanup.policy": "compact"})
    {'min.insync.replicas': '1', 'cleanup.policy': 'compact'}
    """
    return {"min.insync.replicas": str(settings.topic_min_insync_replicas), **configs}


def create_topics(admin: KafkaAdminClient, settings: Settings, topics: list[NewTopic]) -> None:
    """Create ``topics`` (none: nothing to do); a replication factor larger than the cluster's
    brokers is refused first with a line naming the setting. Checked only when creating: a
    running cluster with one broker down still serves the topics it has."""
    if not topics:
        return
    brokers = _brokers_up(admin, settings.topic_replication, BROKERS_WAIT_S)
    if settings.topic_replication > brokers:
        raise DependencyError(
            f"SEGSTREAM_TOPIC_REPLICATION={settings.topic_replication} but Kafka at "
            f"{settings.kafka_bootstrap} has {brokers} broker(s) up: set it to at most {brokers} "
            "(or start more brokers, e.g. `segstream dev up --brokers 3`)"
        )
    with suppress(TopicAlreadyExistsError):  # another process created it first
        admin.create_topics(topics)


def _brokers_up(admin: KafkaAdminClient, wanted: int, wait_s: float) -> int:
    """The brokers the cluster lists, asked again for up to ``wait_s`` while fewer than
    ``wanted``: a broker restarting, or fenced by the controller for a moment under load (CI saw
    2 of 3 right after all 3 had joined), is back within seconds."""
    deadline = time.monotonic() + wait_s
    while True:
        brokers = len(admin.describe_cluster()["brokers"])
        if brokers >= wanted or time.monotonic() >= deadline:
            return brokers
        time.sleep(BROKERS_POLL_S)


def ensure_topics(settings: Settings) -> None:
    """Create the events, dead-letter, batches, change-feed and rules topics if missing."""
    admin = kafka_admin(settings)
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name,
                settings.topic_partitions,
                settings.topic_replication,
                topic_configs=topic_configs(
                    settings, **{"max.message.bytes": str(BATCHES_MAX_MESSAGE_BYTES)}
                ),
            )
            for name in (
                settings.events_topic,
                settings.dead_letter_topic,
                batches_topic(settings),
                changes_topic(settings),
            )
            if name not in existing
        ]
        if rules_topic(settings) not in existing:
            # One partition keeps versions in order; compaction keeps the latest forever.
            wanted.append(
                NewTopic(
                    rules_topic(settings),
                    1,
                    settings.topic_replication,
                    topic_configs=topic_configs(settings, **{"cleanup.policy": "compact"}),
                )
            )
        create_topics(admin, settings, wanted)
        _check_partitions(admin, settings)
    finally:
        admin.close()


def _check_partitions(admin: KafkaAdminClient, settings: Settings) -> None:
    names = [settings.events_topic, batches_topic(settings), rules_topic(settings)]
    topics = admin.describe_topics(names)
    deadline = time.monotonic() + 10
    # Right after creation the metadata may not list the partitions, or their leaders, yet.
    while not _all_led(topics) and time.monotonic() < deadline:
        time.sleep(0.2)
        topics = admin.describe_topics(names)
    for topic in topics:
        if topic["topic"] == rules_topic(settings):
            continue  # one partition by design
        count = len(topic["partitions"])
        if count != settings.topic_partitions:
            raise DependencyError(
                f"topic {topic['topic']} has {count} partitions but "
                f"SEGSTREAM_TOPIC_PARTITIONS={settings.topic_partitions}: set it to {count}"
            )


def _all_led(topics: list[dict[str, Any]]) -> bool:
    return all(
        t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"]) for t in topics
    )


def redis_client(settings: Settings) -> redis.Redis:
    return sync_client(settings, socket_timeout_s=5, connect_timeout_s=3)


def wait_for_redis(settings: Settings, timeout_s: float = 15.0) -> None:
    """Until Redis answers a PING; a refusal of the user, password or TLS ends the wait at once
    (RedisRefusedError naming the setting): waiting would not change the answer."""
    client = redis_client(settings)

    def ping() -> None:
        try:
            client.ping()
        except redis.RedisError as exc:
            refused = refused_connection(exc, settings.redis_url)
            if refused is not None:
                raise RedisRefusedError(refused) from exc
            raise

    try:
        _retry(
            ping,
            timeout_s=dependency_timeout(settings, timeout_s),
            pause_s=0.3,
            errors=(redis.RedisError,),
            failure=lambda exc: redis_unreachable(settings, exc),
        )
    finally:
        client.close()
