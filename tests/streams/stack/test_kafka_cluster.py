"""A dev stack of several Kafka brokers: port layout, properties, pid files, refusals."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.cli import main
from streams.settings import Settings
from streams.stack import StackError, replicated_clients_hint, status
from streams.stack.kafka import (
    cluster_bootstrap,
    kafka_nodes,
    kafka_processes,
    server_properties,
    start_kafka,
)

BASE = 41_300  # never bound: these tests only compute from it, but the one that binds


@pytest.fixture
def three(tmp_path: Path) -> Settings:
    return Settings(
        kafka_bootstrap=f"127.0.0.1:{BASE}",
        dev_kafka_brokers=3,
        stack_dir=tmp_path / "stack",
        cache_dir=tmp_path / "cache",
    )


def properties_of(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_three_brokers_have_their_own_ports_directories_and_pid_files(three: Settings) -> None:
    nodes = kafka_nodes(three)
    assert [n.node_id for n in nodes] == [1, 2, 3]
    assert [n.port for n in nodes] == [BASE, BASE + 3, BASE + 6]
    assert [n.controller_port for n in nodes] == [BASE + 1, BASE + 4, BASE + 7]
    assert len({n.directory for n in nodes}) == 3
    assert len({n.process.pid_file for n in nodes}) == 3
    assert cluster_bootstrap(three) == f"127.0.0.1:{BASE},127.0.0.1:{BASE + 3},127.0.0.1:{BASE + 6}"


def test_every_node_is_a_voter_and_kafkas_own_topics_are_replicated(three: Settings) -> None:
    voters = f"1@127.0.0.1:{BASE + 1},2@127.0.0.1:{BASE + 4},3@127.0.0.1:{BASE + 7}"
    for node in kafka_nodes(three):
        props = properties_of(server_properties(three, node))
        assert props["node.id"] == str(node.node_id)
        assert props["controller.quorum.voters"] == voters
        assert props["listeners"] == (
            f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}"
        )
        assert props["log.dirs"] == str(node.data_dir.resolve())
        assert props["offsets.topic.replication.factor"] == "3"
        assert props["transaction.state.log.replication.factor"] == "3"
        assert props["transaction.state.log.min.isr"] == "2"
        assert props["min.insync.replicas"] == "2"  # Faust's changelogs get it too


def test_a_secured_cluster_talks_between_brokers_on_each_nodes_internal_port(
    three: Settings,
) -> None:
    secured = three.model_copy(update={"kafka_security_protocol": "SSL"})
    node = kafka_nodes(secured)[2]
    props = properties_of(server_properties(secured, node))
    assert props["inter.broker.listener.name"] == "INTERNAL"
    assert f"INTERNAL://127.0.0.1:{BASE + 8}" in props["advertised.listeners"]


def test_one_broker_is_laid_out_as_before(tmp_path: Path) -> None:
    one = Settings(kafka_bootstrap="127.0.0.1:9092", stack_dir=tmp_path)
    [node] = kafka_nodes(one)
    assert (node.node_id, node.port, node.directory) == (1, 9092, tmp_path)
    assert node.process.pid_file == tmp_path / "kafka.pid"
    assert node.data_dir == tmp_path / "kafka-data"
    props = properties_of(server_properties(one))
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"


def test_a_bootstrap_list_sets_the_broker_count(tmp_path: Path) -> None:
    listed = Settings(
        kafka_bootstrap=f"127.0.0.1:{BASE},127.0.0.1:{BASE + 3},127.0.0.1:{BASE + 6}",
        stack_dir=tmp_path,
    )
    assert len(kafka_nodes(listed)) == 3
    assert "SEGSTREAM_TOPIC_MIN_INSYNC_REPLICAS=2" in replicated_clients_hint(listed)


def test_status_shows_each_broker(three: Settings) -> None:
    assert [(s.name, s.running) for s in status(three)] == [
        ("kafka-1", False),
        ("kafka-2", False),
        ("kafka-3", False),
        ("redis", False),
    ]


def test_down_finds_the_pid_files_of_a_stack_of_another_size(three: Settings) -> None:
    one = three.model_copy(update={"dev_kafka_brokers": 1})
    assert [p.pid_file.name for p in kafka_processes(one)] == ["kafka.pid"]  # nothing yet
    three.stack_dir.mkdir(parents=True)
    for node in (2, 5):  # of a 5-broker stack
        (three.stack_dir / f"kafka-{node}.pid").write_text("1\n")
    assert [p.pid_file.name for p in kafka_processes(one)] == ["kafka-2.pid", "kafka-5.pid"]


@pytest.fixture
def third_node_taken(three: Settings) -> Iterator[int]:
    port = kafka_nodes(three)[2].port
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            pytest.skip(f"port {port} is in use by someone else")
        sock.listen()
        yield port


def test_a_taken_port_of_any_node_is_refused_before_anything_starts(
    three: Settings, third_node_taken: int
) -> None:
    with pytest.raises(StackError) as error:
        start_kafka(three)
    message = str(error.value)
    assert "\n" not in message
    assert f"127.0.0.1:{third_node_taken}" in message
    assert "Kafka node 3" in message
    assert "SEGSTREAM_KAFKA_BOOTSTRAP" in message
    assert all(node.process.pid() is None for node in kafka_nodes(three))


def test_a_bootstrap_list_of_other_ports_is_refused(three: Settings) -> None:
    other = three.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{BASE},127.0.0.1:{BASE + 1}"})
    with pytest.raises(StackError) as error:
        start_kafka(other.model_copy(update={"dev_kafka_brokers": 2}))
    assert f"127.0.0.1:{BASE},127.0.0.1:{BASE + 3}" in str(error.value)


def test_dev_status_takes_a_broker_count(
    three: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in three.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SEGSTREAM_DEV_KAFKA_BROKERS")
    assert main(["dev", "status", "--brokers", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["kafka-1", "kafka-2", "redis"]
