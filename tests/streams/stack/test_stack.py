"""Dev stack start-up failures are one clear line; processes are ours or left alone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from streams.settings import Settings
from streams.stack import StackError, down, status, up
from streams.stack.kafka import jars_dir, new_cluster_id, server_properties, start_kafka
from streams.stack.processes import Managed, proc_state, require_loopback, run_with_progress
from streams.stack.redis_server import redis_process, start_redis
from tests.integration.harness import free_port


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        stack_dir=tmp_path / "stack",
        cache_dir=tmp_path / "cache",
    )


@pytest.fixture
def occupied() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def one_line(error: StackError) -> str:
    message = str(error)
    assert "\n" not in message
    return message


def test_redis_port_taken_is_one_clear_line(settings: Settings, occupied: int) -> None:
    taken = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{occupied}/0"})
    with pytest.raises(StackError) as error:
        up(taken, log=lambda _: None)
    message = one_line(error.value)
    assert f"127.0.0.1:{occupied}" in message
    assert "SEGSTREAM_REDIS_URL" in message


def test_missing_java_is_one_clear_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("streams.stack.kafka.shutil.which", lambda name: None)
    with pytest.raises(StackError) as error:
        start_kafka(settings)
    assert "Java is not installed" in one_line(error.value)


def test_missing_maven_with_empty_cache_is_one_clear_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("streams.stack.kafka.shutil.which", lambda name: None)
    with pytest.raises(StackError) as error:
        jars_dir(settings)
    assert "install it (apt-get install maven)" in one_line(error.value)


def test_kafka_port_taken_is_one_clear_line(
    settings: Settings, occupied: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{occupied}"})
    with pytest.raises(StackError) as error:
        start_kafka(taken)
    assert f"127.0.0.1:{occupied}" in one_line(error.value)


@pytest.mark.parametrize("host", ["10.0.0.5", "192.168.1.2", "example.com"])
def test_non_loopback_hosts_are_refused(host: str) -> None:
    with pytest.raises(StackError):
        require_loopback(host, "Kafka")


def test_loopback_hosts_are_accepted() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1"):
        require_loopback(host, "Kafka")


def test_stale_pid_file_of_another_program_is_never_trusted(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        pid_file = tmp_path / "kafka.pid"
        pid_file.write_text(f"{sleeper.pid}\n")
        managed = Managed("kafka", pid_file, "kafka.Kafka")
        assert managed.pid() is None  # a recycled pid running something else
        assert not pid_file.exists()
        assert managed.stop() is False
        assert sleeper.poll() is None  # and it was not killed
    finally:
        sleeper.kill()
        sleeper.wait()


def test_status_of_a_stack_never_started(settings: Settings) -> None:
    assert [s.running for s in status(settings)] == [False, False]


def test_server_properties_are_kraft_on_loopback(settings: Settings) -> None:
    _, port = settings.kafka_host_port
    properties = server_properties(settings)
    assert "process.roles=broker,controller" in properties
    assert f"CONTROLLER://127.0.0.1:{port + 1}" in properties
    assert "offsets.topic.replication.factor=1" in properties
    assert "group.initial.rebalance.delay.ms=0" in properties


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # Kafka's storage tool takes "-..." after -t for an option: the id is drawn again.
    drawn = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x10" + bytes(15))])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(drawn))
    assert new_cluster_id() == "EAAAAAAAAAAAAAAAAAAAAA"


# What `segstream dev down` runs, printing each line to stdout.
DEV_DOWN = (
    "from streams import stack; from streams.settings import Settings; stack.down(Settings())"
)


@pytest.fixture
def own_redis(settings: Settings) -> Iterator[Settings]:
    """The stack's Redis on this test's own port and directory, stopped by its pid afterwards."""
    start_redis(settings)
    try:
        yield settings
    finally:
        redis_process(settings).stop()


def test_redis_keeps_its_data_across_down_and_up(own_redis: Settings) -> None:
    # The worker's profiles survive `dev down`; Redis must too, or it misses their segments.
    client = redis.Redis.from_url(own_redis.redis_url)
    client.set("kept", "yes")
    client.close()
    down(own_redis, log=lambda _: None)
    start_redis(own_redis)
    client = redis.Redis.from_url(own_redis.redis_url)
    try:
        assert client.get("kept") == b"yes"
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    finally:
        client.close()


def test_down_stops_every_process_when_its_output_pipe_is_broken(own_redis: Settings) -> None:
    # `segstream demo | tee`, Ctrl-C: tee is gone, and each line printed while stopping fails.
    pid = redis_process(own_redis).pid()
    assert pid is not None
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        subprocess.run(
            [sys.executable, "-c", DEV_DOWN],
            stdout=write_end,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **own_redis.to_env()},
            check=False,
        )
    finally:
        os.close(write_end)
    assert redis_process(own_redis).pid() is None
    assert proc_state(pid) in {None, "Z"}  # gone, or a zombie this test process started


def test_a_long_download_says_it_is_still_running(tmp_path: Path) -> None:
    said: list[str] = []
    # The command lasts 1.5 s and a line is due every 0.2 s: a slower machine gives more lines.
    status = run_with_progress(
        [sys.executable, "-c", "import time; print('fetched'); time.sleep(1.5)"],
        what="downloading Kafka",
        log_path=tmp_path / "maven.log",
        every_s=0.2,
        say=said.append,
    )
    assert status == 0
    assert said
    assert all(line.startswith("    ... still downloading Kafka (") for line in said)
    assert (tmp_path / "maven.log").read_text() == "fetched\n"
