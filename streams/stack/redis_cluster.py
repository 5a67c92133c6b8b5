"""A Redis Cluster for development and tests (SEGSTREAM_REDIS_CLUSTER=true), loopback only.

SEGSTREAM_REDIS_URL names its first node; ``start_redis_cluster`` runs N nodes on that port and
the N-1 after it (each with its cluster bus on port + 10000), data and ``nodes.conf`` under
``<stack dir>/redis-cluster/<port>``, with the append-only file of the single dev Redis. The
nodes' directories are the cluster's membership: a node that was killed has no pid any more but
is still a member, one that ``restart_node`` brings back as a replica.

Plain text only (a password is fine): TLS and ACL users are the single Redis's business
(streams/stack/redis_server.py); a cluster of them is not needed to test clients that follow
failovers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from streams.redis_connection import sync_client, uses_tls
from streams.settings import Settings
from streams.stack.processes import (
    Managed,
    StackError,
    proc_state,
    require_free_port,
    require_loopback,
    run_with_progress,
)
from streams.stack.redis_server import redis_binary

DEFAULT_NODES = 6
DEFAULT_REPLICAS = 1
BUS_PORT_OFFSET = 10_000  # redis-server's cluster bus listens on its port + 10000
SLOTS = 16_384
NODE_TIMEOUT_MS = 2_000
START_TIMEOUT_S = 15.0
FORM_TIMEOUT_S = 30.0
FAILOVER_TIMEOUT_S = 30.0
POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class ClusterNode:
    """One redis-server of the dev cluster: its address, directory and process."""

    host: str
    port: int
    directory: Path  # its nodes.conf, append-only files and log
    process: Managed

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def bus_port(self) -> int:
        return self.port + BUS_PORT_OFFSET

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    @property
    def auth_file(self) -> Path:
        return self.directory / "auth.conf"


@dataclass(frozen=True, slots=True)
class NodeLine:
    """One line of ``CLUSTER NODES``: a member as the answering node sees it."""

    node_id: str
    host: str
    port: int
    flags: frozenset[str]
    primary_id: str | None  # the primary it replicates, None for a primary
    slots: tuple[str, ...]  # ranges it serves ("0-5460"), without slots being migrated

    @property
    def is_primary(self) -> bool:
        return "master" in self.flags

    @property
    def failed(self) -> bool:
        return bool(self.flags & {"fail", "fail?"})


def cluster_dir(settings: Settings) -> Path:
    return settings.stack_dir / "redis-cluster"


def cluster_node(settings: Settings, port: int) -> ClusterNode:
    host, _ = settings.redis_host_port
    stack = settings.stack_dir
    name = f"redis-cluster-{port}"
    process = Managed(name, stack / f"{name}.pid", "redis-server")
    return ClusterNode(host, port, cluster_dir(settings) / str(port), process)


def planned_nodes(settings: Settings, nodes: int = DEFAULT_NODES) -> list[ClusterNode]:
    """``nodes`` nodes from SEGSTREAM_REDIS_URL's port on."""
    _, base = settings.redis_host_port
    return [cluster_node(settings, port) for port in range(base, base + nodes)]


def cluster_nodes(settings: Settings) -> list[ClusterNode]:
    """The members this stack dir has a directory or a pid file of, whatever the size of the
    cluster that made them (a killed node keeps its directory); the default layout when none."""
    stack = settings.stack_dir
    names = [path.name for path in cluster_dir(settings).glob("*") if path.is_dir()]
    names += [
        path.stem.removeprefix("redis-cluster-") for path in stack.glob("redis-cluster-*.pid")
    ]
    ports = sorted({int(name) for name in names if name.isdigit()})
    return [cluster_node(settings, port) for port in ports] or planned_nodes(settings)


def redis_cluster_processes(settings: Settings) -> list[Managed]:
    return [node.process for node in cluster_nodes(settings)]


def stop_redis_cluster(settings: Settings) -> list[tuple[str, bool]]:
    """Stop every node (name, whether it was running). All are asked at once: stopped in turn,
    each primary's replica would take over from it, and the next start find the roles shuffled."""
    processes = redis_cluster_processes(settings)
    running = [process.terminate() for process in processes]
    return [(p.name, p.stop() or was) for p, was in zip(processes, running, strict=True)]


def start_redis_cluster(
    settings: Settings, *, nodes: int = DEFAULT_NODES, replicas: int = DEFAULT_REPLICAS
) -> str:
    """Start the nodes not running, form the cluster if it never was, and wait until it serves
    every slot. Nothing is started when a port is taken or the settings are refused."""
    planned = planned_nodes(settings, nodes)
    refuse_unsupported(settings, planned, replicas)
    stopped = [node for node in planned if node.process.pid() is None]
    for node in stopped:
        require_node_ports_free(node)
    binary = redis_binary() if stopped else ""
    children = [(node, start_node(settings, node, binary)) for node in stopped]
    for node, child in children:
        wait_node_started(settings, node, child)
    created = not formed(settings, planned)
    if created:
        create_cluster(settings, planned, replicas)
    wait_healthy(settings, planned, len(planned), FORM_TIMEOUT_S, "the Redis Cluster formed")
    return _started_summary(planned, [child.pid for _, child in children], created)


def _started_summary(planned: Sequence[ClusterNode], pids: Sequence[int], created: bool) -> str:
    where = f"{planned[0].address}-{planned[-1].port}"
    if not pids:
        return f"already running ({len(planned)} nodes on {where})"
    said = f"started {len(pids)} of {len(planned)} nodes on {where} (pids {_joined(pids)})"
    return f"{said}; cluster created" if created else said


def _joined(values: Sequence[object]) -> str:
    return ", ".join(str(value) for value in values)


def refuse_unsupported(settings: Settings, planned: Sequence[ClusterNode], replicas: int) -> None:
    """What the dev cluster does not do, refused before anything starts."""
    if uses_tls(settings) or settings.redis_username is not None:
        raise StackError(
            "the dev Redis Cluster supports plain text only (a password is fine): use a "
            "redis:// SEGSTREAM_REDIS_URL and no SEGSTREAM_REDIS_USERNAME"
        )
    host, _ = settings.redis_host_port
    require_loopback(host, "Redis")
    # redis-cli --cluster create wants at least 3 primaries, each with its replicas.
    if replicas < 0 or len(planned) < 3 * (replicas + 1):
        raise StackError(
            f"a Redis Cluster of {len(planned)} nodes cannot have 3 primaries with {replicas} "
            f"replicas each: give it at least {3 * (max(replicas, 0) + 1)} nodes"
        )
    if planned[-1].bus_port > 65_535:
        raise StackError(
            f"Redis Cluster node {planned[-1].address} would need cluster bus port "
            f"{planned[-1].bus_port}: choose a port below {65_536 - BUS_PORT_OFFSET - len(planned)}"
            " in SEGSTREAM_REDIS_URL"
        )


def require_node_ports_free(node: ClusterNode) -> None:
    what = f"Redis Cluster node {node.port}"
    require_free_port(node.host, node.port, what, "SEGSTREAM_REDIS_URL")
    require_free_port(node.host, node.bus_port, f"{what}'s cluster bus", "SEGSTREAM_REDIS_URL")


def node_command(settings: Settings, node: ClusterNode, binary: str) -> list[str]:
    """redis-server's command line for ``node``; its password, if any, is in the config file
    named first (see :func:`write_auth_file`), never in the arguments."""
    command = [binary]
    if settings.redis_password_text:  # a config file must be redis-server's first argument
        command.append(str(node.auth_file.resolve()))
    command += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
    command += ["--cluster-node-timeout", str(NODE_TIMEOUT_MS)]
    command += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
    command += ["--bind", node.host, "--port", str(node.port)]
    command += ["--dir", str(node.directory.resolve()), "--daemonize", "no"]
    return [*command, "--protected-mode", "yes"]


def auth_config(password: str) -> str:
    r"""The config lines that make a node ask clients, and its primary, for ``password``. Every
    byte but ASCII letters and digits is escaped: redis.conf reads ``"\xHH"`` in quotes.

    >>> print(auth_config('a b"c'), end="")
    requirepass "a\x20b\x22c"
    masterauth "a\x20b\x22c"
    """
    quoted = "".join(
        chr(byte) if chr(byte).isascii() and chr(byte).isalnum() else f"\\x{byte:02x}"
        for byte in password.encode()
    )
    return f'requirepass "{quoted}"\nmasterauth "{quoted}"\n'


def write_auth_file(node: ClusterNode, password: str) -> None:
    """The password in an owner-only file: arguments are in the process list, which every local
    user can read (redis-server renames its process title, but only once it is running)."""
    node.auth_file.unlink(missing_ok=True)
    descriptor = os.open(node.auth_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as conf:
        conf.write(auth_config(password))


def start_node(settings: Settings, node: ClusterNode, binary: str) -> subprocess.Popen[bytes]:
    node.directory.mkdir(parents=True, exist_ok=True)
    password = settings.redis_password_text
    if password:
        write_auth_file(node, password)
    command = node_command(settings, node, binary)
    return node.process.start(command, node.log_path, settings.stack_dir.resolve())


def node_settings(settings: Settings, node: ClusterNode) -> Settings:
    """Settings for a client of ``node`` alone: cluster commands are asked of each node, not of
    the cluster."""
    url = f"redis://{node.address}/0"
    return settings.model_copy(update={"redis_url": url, "redis_cluster": False})


def ask(settings: Settings, node: ClusterNode, *command: str) -> Any:
    client = sync_client(
        node_settings(settings, node), connect_timeout_s=1, socket_timeout_s=2, retries=0
    )
    try:
        # Raw, not the typed wrappers: redis-py would parse CLUSTER NODES its own way.
        return client.execute_command(*command)  # type: ignore[no-untyped-call]
    finally:
        client.close()


def text(reply: object) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def parse_cluster_info(reply: str) -> dict[str, str]:
    """``CLUSTER INFO``'s fields.

    >>> parse_cluster_info("cluster_state:ok\\r\\ncluster_slots_ok:16384\\r\\n")
    {'cluster_state': 'ok', 'cluster_slots_ok': '16384'}
    """
    fields = (line.partition(":") for line in reply.splitlines() if ":" in line)
    return {name: value.strip() for name, _, value in fields}


def parse_cluster_nodes(reply: str) -> list[NodeLine]:
    """``CLUSTER NODES``'s members.

    >>> [line] = parse_cluster_nodes("e7d1 127.0.0.1:7000@17000 myself,master - 0 0 1 "
    ...                              "connected 0-5460 [93->-e8a1]\\n")
    >>> line.port, line.is_primary, line.failed, line.primary_id, line.slots
    (7000, True, False, None, ('0-5460',))
    """
    return [_node_line(line.split()) for line in reply.splitlines() if line.strip()]


def _node_line(fields: list[str]) -> NodeLine:
    node_id, address, flags, primary = fields[:4]
    host, _, port = address.split("@")[0].partition(",")[0].rpartition(":")
    slots = tuple(slot for slot in fields[8:] if not slot.startswith("["))
    return NodeLine(
        node_id,
        host,
        int(port or 0),
        frozenset(flags.split(",")),
        None if primary == "-" else primary,
        slots,
    )


def cluster_view(settings: Settings, node: ClusterNode) -> list[NodeLine]:
    return parse_cluster_nodes(text(ask(settings, node, "CLUSTER", "NODES")))


def cluster_info(settings: Settings, node: ClusterNode) -> dict[str, str]:
    return parse_cluster_info(text(ask(settings, node, "CLUSTER", "INFO")))


def wait_node_started(
    settings: Settings, node: ClusterNode, child: subprocess.Popen[bytes]
) -> None:
    def answers() -> str | None:
        if child.poll() is not None:
            raise StackError(f"redis-server exited during start-up; see {node.log_path}")
        try:
            ask(settings, node, "PING")
        except redis.RedisError as exc:
            return f"{node.address}: {exc}"
        return None

    wait_for(answers, START_TIMEOUT_S, f"Redis Cluster node {node.address} answered")


def wait_for(problem: Callable[[], str | None], timeout_s: float, what: str) -> None:
    """Poll ``problem`` until it says None; on timeout, raise naming ``what`` and the last
    problem seen."""
    deadline = time.monotonic() + timeout_s
    while (seen := problem()) is not None:
        if time.monotonic() > deadline:
            raise StackError(f"not {what} within {timeout_s:.0f}s: {seen}")
        time.sleep(POLL_S)


def formed(settings: Settings, nodes: Sequence[ClusterNode]) -> bool:
    """Whether any node was ever part of a cluster. Not read from nodes.conf: redis-server writes
    one at its first start, with only itself in it."""
    for node in nodes:
        info = cluster_info(settings, node)
        if int(info.get("cluster_known_nodes", "1")) > 1:
            return True
        if int(info.get("cluster_slots_assigned", "0")) > 0:
            return True
    return False


def redis_cli_binary() -> str:
    """redis-cli, which Debian's redis-server package brings (from redis-tools)."""
    beside = Path(redis_binary()).with_name("redis-cli")
    found = str(beside) if beside.exists() else shutil.which("redis-cli")
    if found is None:
        raise StackError("redis-cli is not installed: install it (apt-get install redis-tools)")
    return found


def create_command(cli: str, nodes: Sequence[ClusterNode], replicas: int) -> list[str]:
    addresses = [node.address for node in nodes]
    return [cli, "--cluster", "create", *addresses, "--cluster-replicas", str(replicas),
            "--cluster-yes"]  # fmt: skip


def create_env(settings: Settings) -> dict[str, str]:
    """redis-cli's environment: the password in REDISCLI_AUTH, which only our user can read,
    rather than ``-a``, which the process list shows everybody."""
    env = {name: value for name, value in os.environ.items() if name != "REDISCLI_AUTH"}
    password = settings.redis_password_text
    return {**env, "REDISCLI_AUTH": password} if password else env


def create_cluster(settings: Settings, nodes: Sequence[ClusterNode], replicas: int) -> None:
    log = cluster_dir(settings) / "create.log"
    command = create_command(redis_cli_binary(), nodes, replicas)
    env = create_env(settings)
    if run_with_progress(command, what="forming the Redis Cluster", log_path=log, env=env) != 0:
        tail = " ".join(log.read_text(errors="replace").split())[-300:]
        raise StackError(
            f"redis-cli --cluster create failed ({tail}); see {log}. To start afresh: segstream "
            f"dev down, then delete {cluster_dir(settings)}"
        )


def node_problem(settings: Settings, node: ClusterNode, members: int) -> str | None:
    """Why ``node`` is not yet a healthy member of a cluster of ``members`` nodes, or None. A
    replica must be in sync with its primary too: one that never was cannot take over from it."""
    try:
        info = cluster_info(settings, node)
        role = ask(settings, node, "ROLE")
    except redis.RedisError as exc:
        return f"{node.port}: {exc}"
    seen = (
        f"{node.port}: cluster_state {info.get('cluster_state')}, "
        f"{info.get('cluster_slots_ok')} slots ok, {info.get('cluster_known_nodes')} nodes known"
    )
    healthy = (
        info.get("cluster_state") == "ok"
        and info.get("cluster_slots_ok") == str(SLOTS)
        and info.get("cluster_known_nodes") == str(members)
    )
    if not healthy:
        return seen
    if text(role[0]) == "slave" and text(role[3]) != "connected":
        return f"{node.port}: replica's link to its primary is {text(role[3])}"
    return None


def cluster_problem(settings: Settings, nodes: Sequence[ClusterNode], members: int) -> str | None:
    problems = [node_problem(settings, node, members) for node in nodes]
    return "; ".join(problem for problem in problems if problem) or None


def wait_healthy(
    settings: Settings, nodes: Sequence[ClusterNode], members: int, timeout_s: float, what: str
) -> None:
    wait_for(lambda: cluster_problem(settings, nodes, members), timeout_s, what)


def running_nodes(settings: Settings) -> list[ClusterNode]:
    return [node for node in cluster_nodes(settings) if node.process.pid() is not None]


def cluster_primaries(settings: Settings) -> list[tuple[str, int]]:
    """The primaries serving slots, as the first running node that answers sees them."""
    for node in running_nodes(settings):
        try:
            view = cluster_view(settings, node)
        except redis.RedisError:
            continue
        primaries = {(line.host, line.port) for line in view if _serving(line)}
        return sorted(primaries)
    raise StackError(f"no node of the Redis Cluster in {cluster_dir(settings)} answers")


def _serving(line: NodeLine) -> bool:
    return line.is_primary and not line.failed and bool(line.slots)


def fail_over_by_kill(settings: Settings, port: int) -> None:
    """SIGKILL the node on ``port`` (ours, by its recorded pid) and wait until the survivors
    serve every slot again, a replica of it promoted if it was a primary. A primary without a
    replica is refused: its slots would stay down."""
    node = cluster_node(settings, port)
    pid = node.process.pid()
    if pid is None:
        raise StackError(f"no Redis Cluster node of this stack runs on {node.address}")
    view = cluster_view(settings, node)
    [me] = [line for line in view if "myself" in line.flags]
    replicas = {line.node_id for line in view if line.primary_id == me.node_id}
    if _serving(me) and not replicas:
        raise StackError(
            f"{node.address} is a primary without a replica: its slots would stay down"
        )
    members = len(cluster_nodes(settings))
    kill_group(pid)
    survivors = [other for other in running_nodes(settings) if other.port != port]

    def taken_over() -> str | None:
        problem = cluster_problem(settings, survivors, members)
        if problem is None and _serving(me):
            problem = _promotion_problem(settings, survivors, me, replicas)
        return problem

    wait_for(taken_over, FAILOVER_TIMEOUT_S, f"failed over from {node.address}")


def _promotion_problem(
    settings: Settings, survivors: Sequence[ClusterNode], killed: NodeLine, replicas: set[str]
) -> str | None:
    """What each survivor still sees of ``killed`` serving slots, or no replica of it serving."""
    for survivor in survivors:
        view = cluster_view(settings, survivor)
        if any(line.node_id == killed.node_id and line.slots for line in view):
            return f"{survivor.port} still sees {killed.port} serving slots"
        if not any(line.node_id in replicas and _serving(line) for line in view):
            return f"{survivor.port} sees no replica of {killed.port} serving slots"
    return None


def kill_group(pid: int, timeout_s: float = 5.0) -> None:
    """SIGKILL ``pid``'s process group (the node and any child it forked to rewrite its
    append-only file), then wait until it is gone, reaping it if it is our child."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)

    def alive() -> str | None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        state = proc_state(pid)
        return None if state in (None, "Z") else f"pid {pid} is in state {state}"

    wait_for(alive, timeout_s, f"gone after SIGKILL (pid {pid})")


def restart_node(settings: Settings, port: int) -> str:
    """Start a member again (one ``fail_over_by_kill`` killed) and wait until it is back in
    the cluster: a primary whose replica took over comes back as that replica's replica."""
    node = cluster_node(settings, port)
    if not node.directory.is_dir():
        raise StackError(
            f"{node.address} is not a node of the Redis Cluster in {cluster_dir(settings)}"
        )
    running = node.process.pid()
    if running is not None:
        return f"already running (pid {running})"
    require_node_ports_free(node)
    child = start_node(settings, node, redis_binary())
    wait_node_started(settings, node, child)
    members = len(cluster_nodes(settings))
    wait_for(
        lambda: node_problem(settings, node, members), FORM_TIMEOUT_S, f"{node.address} rejoined"
    )
    return f"started (pid {child.pid}); {role_of(settings, node)}"


def role_of(settings: Settings, node: ClusterNode) -> str:
    role = ask(settings, node, "ROLE")
    if text(role[0]) == "slave":
        return f"replica of {text(role[1])}:{role[2]}"
    return "primary"
