"""The dev Redis Cluster without servers: its command lines, files, layout and refusals.

tests/integration/test_redis_cluster_stack.py runs one."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.cli import main
from streams.settings import Settings
from streams.stack import StackError, down, status
from streams.stack.redis_cluster import (
    auth_config,
    cluster_node,
    cluster_nodes,
    create_command,
    create_env,
    fail_over_by_kill,
    node_command,
    parse_cluster_info,
    parse_cluster_nodes,
    planned_nodes,
    restart_node,
    start_redis_cluster,
    write_auth_file,
)

BASE = 27_100  # never bound: these tests only compute from it
PASSWORD = 'dev cluster "pass"'
BINARY = "/usr/bin/redis-server"


def cluster_settings(tmp_path: Path, **values: object) -> Settings:
    return Settings().model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{BASE}/0",
            "redis_cluster": True,
            "redis_username": None,
            "redis_password": None,
            "stack_dir": tmp_path / "stack",
            **values,
        }
    )


def options(arguments: list[str]) -> dict[str, str]:
    """``--name value`` pairs; every option of a node's command line takes a value."""
    assert len(arguments) % 2 == 0, arguments
    return dict(zip(arguments[::2], arguments[1::2], strict=True))


def nothing_started(settings: Settings) -> bool:
    return not settings.stack_dir.exists() or not any(settings.stack_dir.rglob("*"))


def test_six_nodes_from_the_url_s_port_each_with_its_directory_and_pid_file(
    tmp_path: Path,
) -> None:
    settings = cluster_settings(tmp_path)
    nodes = planned_nodes(settings)
    assert [node.port for node in nodes] == list(range(BASE, BASE + 6))
    assert [node.bus_port for node in nodes] == list(range(BASE + 10_000, BASE + 10_006))
    third = nodes[2]
    assert third.process.name == f"redis-cluster-{BASE + 2}"
    assert third.process.pid_file == settings.stack_dir / f"redis-cluster-{BASE + 2}.pid"
    assert third.directory == settings.stack_dir / "redis-cluster" / str(BASE + 2)


def test_a_node_s_command_line_without_a_password(tmp_path: Path) -> None:
    settings = cluster_settings(tmp_path)
    node = planned_nodes(settings)[1]
    command = node_command(settings, node, BINARY)
    assert command[0] == BINARY
    assert options(command[1:]) == {
        "--cluster-enabled": "yes",
        "--cluster-config-file": "nodes.conf",
        "--cluster-node-timeout": "2000",
        "--appendonly": "yes",
        "--appendfsync": "everysec",
        "--save": "",
        "--bind": "127.0.0.1",
        "--port": str(BASE + 1),
        "--dir": str(node.directory.resolve()),
        "--daemonize": "no",
        "--protected-mode": "yes",
    }


def test_a_password_is_in_an_owner_only_file_never_in_argv(tmp_path: Path) -> None:
    settings = cluster_settings(tmp_path, redis_password=SecretStr(PASSWORD))
    node = planned_nodes(settings)[0]
    command = node_command(settings, node, BINARY)
    assert command[1] == str(node.auth_file.resolve())  # redis-server's config file comes first
    assert options(command[2:])["--port"] == str(BASE)
    assert not any(PASSWORD in argument for argument in command)
    assert not {"--requirepass", "--masterauth"} & set(command)
    node.directory.mkdir(parents=True)
    write_auth_file(node, PASSWORD)
    assert stat.S_IMODE(node.auth_file.stat().st_mode) == 0o600
    assert node.auth_file.read_text() == auth_config(PASSWORD)
    write_auth_file(node, PASSWORD)  # a restart writes it again


def test_the_password_is_quoted_byte_by_byte_for_redis_conf() -> None:
    assert auth_config("pé 1") == (
        'requirepass "p\\xc3\\xa9\\x201"\nmasterauth "p\\xc3\\xa9\\x201"\n'
    )


def test_cluster_create_gets_the_password_from_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = cluster_settings(tmp_path, redis_password=SecretStr(PASSWORD))
    nodes = planned_nodes(settings)
    command = create_command("/usr/bin/redis-cli", nodes, 1)
    addresses = [f"127.0.0.1:{port}" for port in range(BASE, BASE + 6)]
    assert command == [
        "/usr/bin/redis-cli", "--cluster", "create", *addresses,
        "--cluster-replicas", "1", "--cluster-yes",
    ]  # fmt: skip
    assert "-a" not in command
    assert create_env(settings)["REDISCLI_AUTH"] == PASSWORD
    monkeypatch.setenv("REDISCLI_AUTH", "someone else's")
    assert "REDISCLI_AUTH" not in create_env(cluster_settings(tmp_path))


@pytest.mark.parametrize(
    "values",
    [
        {"redis_url": f"rediss://127.0.0.1:{BASE}/0"},
        {"redis_username": "dev", "redis_password": SecretStr(PASSWORD)},
    ],
    ids=["tls", "acl-user"],
)
def test_tls_and_acl_users_are_refused_before_anything_starts(
    tmp_path: Path, values: dict[str, object]
) -> None:
    settings = cluster_settings(tmp_path, **values)
    with pytest.raises(StackError, match="plain text only") as error:
        start_redis_cluster(settings)
    assert "\n" not in str(error.value)
    assert nothing_started(settings)


def test_a_non_loopback_host_is_refused(tmp_path: Path) -> None:
    settings = cluster_settings(tmp_path, redis_url=f"redis://10.1.2.3:{BASE}/0")
    with pytest.raises(StackError, match="not a loopback address"):
        start_redis_cluster(settings)
    assert nothing_started(settings)


def test_too_few_nodes_for_three_primaries_are_refused(tmp_path: Path) -> None:
    settings = cluster_settings(tmp_path)
    with pytest.raises(StackError, match="at least 6 nodes"):
        start_redis_cluster(settings, nodes=5)
    with pytest.raises(StackError, match="at least 9 nodes"):
        start_redis_cluster(settings, nodes=6, replicas=2)
    assert nothing_started(settings)


def test_a_port_whose_cluster_bus_port_cannot_exist_is_refused(tmp_path: Path) -> None:
    settings = cluster_settings(tmp_path, redis_url="redis://127.0.0.1:60000/0")
    with pytest.raises(StackError, match="cluster bus port 70005"):
        start_redis_cluster(settings)


def test_a_taken_cluster_bus_port_is_refused_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = BASE + 3 + 10_000
    monkeypatch.setattr("streams.stack.processes.port_in_use", lambda host, port: port == taken)
    settings = cluster_settings(tmp_path)
    with pytest.raises(StackError) as error:
        start_redis_cluster(settings)
    message = str(error.value)
    assert f"127.0.0.1:{taken}" in message
    assert "cluster bus" in message
    assert "SEGSTREAM_REDIS_URL" in message
    assert nothing_started(settings)


def test_a_killed_node_is_still_a_member_by_its_directory(tmp_path: Path) -> None:
    settings = cluster_settings(tmp_path, redis_url="redis://127.0.0.1:7000/0")
    members = settings.stack_dir / "redis-cluster"
    for name in ("7000", "7001", "7002", "create.log", "not-a-node"):
        (members / name).mkdir(parents=True)
    (settings.stack_dir / "redis-cluster-7003.pid").write_text("1\n")
    assert [node.port for node in cluster_nodes(settings)] == [7000, 7001, 7002, 7003]


def test_status_reports_each_node_of_the_default_layout(tmp_path: Path) -> None:
    settings = cluster_settings(tmp_path)
    redis = [service for service in status(settings) if service.name.startswith("redis")]
    assert [service.name for service in redis] == [
        f"redis-cluster-{port}" for port in range(BASE, BASE + 6)
    ]
    assert [service.address for service in redis] == [
        f"127.0.0.1:{port}" for port in range(BASE, BASE + 6)
    ]
    assert not any(service.running for service in redis)


def test_down_stops_each_node_and_a_single_redis_left_by_the_other_setting(
    tmp_path: Path,
) -> None:
    settings = cluster_settings(tmp_path)
    settings.stack_dir.mkdir(parents=True)
    (settings.stack_dir / "redis.pid").write_text("999999999\n")  # a pid no process has
    said: list[str] = []
    down(settings, log=said.append)
    redis = [line for line in said if line.startswith("redis")]
    nodes = [f"redis-cluster-{port}: was not running" for port in range(BASE, BASE + 6)]
    assert redis == [*nodes, "redis: was not running"]


def test_dev_status_takes_redis_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in cluster_settings(tmp_path, redis_cluster=False).to_env().items():
        monkeypatch.setenv(name, value)
    assert main(["dev", "status", "--redis-cluster"]) == 0
    lines = capsys.readouterr().out.splitlines()
    redis = [line.split() for line in lines if line.startswith("redis")]
    assert [line[0] for line in redis] == [f"redis-cluster-{p}" for p in range(BASE, BASE + 6)]
    assert {line[1] for line in redis} == {"stopped"}


def test_cluster_nodes_after_a_failover() -> None:
    reply = (
        "aaa 127.0.0.1:7000@17000 master,fail - 1 1 1 disconnected\n"
        "bbb 127.0.0.1:7001@17001 myself,master - 0 0 2 connected 5461-10922\n"
        "ccc 127.0.0.1:7003@17003,node-3 master - 0 5 7 connected 0-5460\n"
        "ddd 127.0.0.1:7004@17004 slave bbb 0 5 2 connected\n"
        "eee :0@0 handshake,noaddr - 0 0 0 disconnected\n"
    )
    lines = parse_cluster_nodes(reply)
    assert [(line.node_id, line.port) for line in lines] == [
        ("aaa", 7000), ("bbb", 7001), ("ccc", 7003), ("ddd", 7004), ("eee", 0),
    ]  # fmt: skip
    assert [line.failed for line in lines] == [True, False, False, False, False]
    assert [line.is_primary for line in lines] == [True, True, True, False, False]
    assert lines[0].slots == ()
    assert lines[2].host == "127.0.0.1"
    assert lines[3].primary_id == "bbb"


def test_cluster_info_fields() -> None:
    info = parse_cluster_info("# Cluster\r\ncluster_state:fail\r\ncluster_known_nodes:6\r\n\r\n")
    assert info == {"cluster_state": "fail", "cluster_known_nodes": "6"}


def test_failing_over_or_restarting_a_node_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    settings = cluster_settings(tmp_path)
    with pytest.raises(StackError, match="no Redis Cluster node of this stack runs on"):
        fail_over_by_kill(settings, BASE)
    with pytest.raises(StackError, match="is not a node of the Redis Cluster"):
        restart_node(settings, BASE + 9)
    assert cluster_node(settings, BASE).process.pid() is None
