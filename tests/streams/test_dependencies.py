"""A worker that cannot reach Kafka or Redis says so in one line, with the fix."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streams.dependencies import (
    DependencyError,
    _brokers_up,
    dependency_timeout,
    kafka_admin,
    wait_for_redis,
)
from streams.errors import EXIT_UNAVAILABLE, EXIT_USAGE
from streams.settings import Settings
from tests.integration.harness import free_port


def test_redis_unreachable_is_one_line_naming_url_and_fix() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(DependencyError) as error:
        wait_for_redis(Settings(redis_url=url), timeout_s=0.5)
    message = str(error.value)
    assert "\n" not in message
    assert url in message
    assert "segstream dev up" in message


def test_kafka_unreachable_is_one_line_naming_servers_and_fix() -> None:
    servers = f"127.0.0.1:{free_port()}"
    with pytest.raises(DependencyError) as error:
        kafka_admin(Settings(kafka_bootstrap=servers), timeout_s=0.5)
    message = str(error.value)
    assert "\n" not in message
    assert servers in message
    assert "SEGSTREAM_KAFKA_BOOTSTRAP" in message


def test_worker_cli_prints_one_line_and_exits_3_when_redis_is_down() -> None:
    env = {
        **os.environ,
        "SEGSTREAM_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "SEGSTREAM_WEB_PORT": str(free_port()),
        "SEGSTREAM_DEPENDENCY_TIMEOUT_S": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == EXIT_UNAVAILABLE
    assert done.stderr.strip().count("\n") == 0
    assert done.stderr.startswith("segstream: Redis unreachable")


def test_bad_setting_is_refused_with_its_variable_name() -> None:
    env = {**os.environ, "SEGSTREAM_TOPIC_PARTITIONS": "zero"}
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "features"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "SEGSTREAM_TOPIC_PARTITIONS" in done.stderr


def test_the_wait_for_dependencies_can_be_shortened_and_a_bad_value_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SEGSTREAM_DEPENDENCY_TIMEOUT_S", raising=False)
    assert dependency_timeout(Settings(), 30.0) == 30.0
    monkeypatch.setenv("SEGSTREAM_DEPENDENCY_TIMEOUT_S", "1.5")
    assert dependency_timeout(Settings(), 30.0) == 1.5
    for bad in ("soon", "-1", "nan"):
        env = {**os.environ, "SEGSTREAM_DEPENDENCY_TIMEOUT_S": bad}
        done = subprocess.run(
            [sys.executable, "-m", "streams.cli", "features"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == EXIT_USAGE, done.stderr
        assert "SEGSTREAM_DEPENDENCY_TIMEOUT_S" in done.stderr


class _ClusterListing:
    """Stands in for the admin client's cluster listing only: brokers listed call by call."""

    def __init__(self, *counts: int) -> None:
        self.counts = list(counts)
        self.calls = 0

    def describe_cluster(self) -> dict[str, list[int]]:
        count = self.counts[min(self.calls, len(self.counts) - 1)]
        self.calls += 1
        return {"brokers": list(range(count))}


def test_a_broker_back_within_the_wait_is_counted_and_too_few_are_refused_after_it() -> None:
    assert _brokers_up(_ClusterListing(2, 2, 3), wanted=3, wait_s=5.0) == 3
    stays_short = _ClusterListing(2)
    assert _brokers_up(stays_short, wanted=3, wait_s=0.6) == 2
    assert stays_short.calls >= 2  # asked again before giving up
    enough = _ClusterListing(1)
    assert _brokers_up(enough, wanted=1, wait_s=5.0) == 1
    assert enough.calls == 1
