"""Readiness rules and the Redis probe, without a worker."""

from __future__ import annotations

import asyncio
import socket
from types import SimpleNamespace
from typing import Any

from streams.ops.health import (
    kafka_answers,
    probe_client,
    readiness,
    redis_answers,
    table_recovery,
)
from streams.settings import Settings


def test_ready_only_when_tables_are_recovered_and_redis_answers() -> None:
    assert readiness(recovering=False, redis_ok=True).as_json() == {"ready": True, "reasons": []}
    assert readiness(recovering=True, redis_ok=False).reasons == (
        "tables recovering or partitions rebalancing",
        "Redis unreachable",
    )
    assert not readiness(recovering=False, redis_ok=False).ready


def test_not_ready_while_kafka_is_unreachable_saying_since_when() -> None:
    state = readiness(recovering=False, redis_ok=True, kafka_down_since=1_796_600_000.0)
    assert state.as_json() == {
        "ready": False,
        "reasons": ["Kafka unreachable since 2026-12-06T23:33:20+00:00"],
    }
    assert readiness(recovering=False, redis_ok=True, kafka_down_since=None).ready


def fake_app(*, completed: bool, rebalancing: bool = False, in_recovery: bool = False) -> Any:
    event = asyncio.Event()
    if completed:
        event.set()
    recovery = SimpleNamespace(
        completed=event,
        active_remaining=lambda: {"tp0": 12},
        standby_remaining=lambda: {"tp1": 0},
    )
    return SimpleNamespace(
        rebalancing=rebalancing, in_recovery=in_recovery, tables=SimpleNamespace(recovery=recovery)
    )


def test_recovering_until_the_first_recovery_completes_and_during_later_ones() -> None:
    assert table_recovery(fake_app(completed=False)) == (True, {"active": 12, "standby": 0})
    assert table_recovery(fake_app(completed=True))[0] is False
    assert table_recovery(fake_app(completed=True, rebalancing=True))[0] is True
    assert table_recovery(fake_app(completed=True, in_recovery=True))[0] is True


def test_a_standby_copy_past_the_end_it_started_from_leaves_nothing_and_hides_nothing() -> None:
    """Faust's standby counts go below zero once a copy follows the changelog as it is written."""
    app = fake_app(completed=True)
    app.tables.recovery.standby_remaining = lambda: {"tp1": -6728, "tp2": 40, "tp3": -3929}
    assert table_recovery(app) == (False, {"active": 12, "standby": 40})


def test_the_probe_says_no_when_nothing_listens() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # held, never listening: connections are refused
        port = sock.getsockname()[1]
        settings = Settings(redis_url=f"redis://127.0.0.1:{port}/0")
        assert asyncio.run(probe(settings)) is False


def test_the_kafka_probe_says_no_when_no_bootstrap_server_listens() -> None:
    with socket.socket() as first, socket.socket() as second:
        first.bind(("127.0.0.1", 0))  # held, never listening: connections are refused
        second.bind(("127.0.0.1", 0))
        servers = [f"127.0.0.1:{sock.getsockname()[1]}" for sock in (first, second)]
        assert asyncio.run(kafka_answers(servers)) is False


async def probe(settings: Settings) -> bool:
    client = probe_client(settings)
    try:
        return await redis_answers(client)
    finally:
        await client.aclose()
