"""How long a killed worker keeps its partitions: the Kafka session timeout a worker asks for."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import ValidationError

from streams.settings import Settings
from tests.streams.ops.test_wiring import worker


def test_the_session_timeout_is_the_setting_and_heartbeats_fit_three_times_in_it(
    tmp_path: Path,
) -> None:
    default = worker(tmp_path).app.conf
    # Every second: the others learn of a graceful stop within one (bench/failover.py).
    assert (default.broker_session_timeout, default.broker_heartbeat_interval) == (60.0, 1.0)
    short = worker(tmp_path, kafka_session_timeout_s=6).app.conf
    assert (short.broker_session_timeout, short.broker_heartbeat_interval) == (6.0, 1.0)


@pytest.mark.parametrize("seconds", [5, 301])  # the broker refuses under 6 s by default
def test_a_session_timeout_out_of_range_is_refused_at_start_up(seconds: int) -> None:
    with pytest.raises(ValidationError, match="kafka_session_timeout_s"):
        Settings(kafka_session_timeout_s=seconds)


def test_the_profiles_changelog_asks_for_the_configured_in_sync_replicas(tmp_path: Path) -> None:
    """Faust creates the changelog itself; without this it took the broker's default (1)."""
    table = worker(tmp_path, topic_replication=3, topic_min_insync_replicas=2).profiles
    configs = cast(Any, table).extra_topic_configs  # Faust's TableT does not declare it
    assert configs == {"min.insync.replicas": "2"}
