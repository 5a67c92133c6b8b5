"""A throw-away Redis for development: loopback only, nothing persisted.

Files under the stack dir: ``redis.pid``, ``redis.log`` and ``redis/`` (the generated
``redis.conf``, readable by its owner only since it may hold the password, and Redis's working
directory).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import redis

from streams.devstack.errors import StackError
from streams.devstack.network import plain_host, require_free_port, require_loopback, url_host
from streams.devstack.processes import ManagedProcess, log_tail, stack_root
from streams.settings import Settings

NAME = "redis"
IDENTITY = "redis-server"  # Redis rewrites its title to "<argv0> host:port"; argv0 keeps this
URL_SETTING = "SEGSTREAM_REDIS_URL"
PACKAGE = "redis-server"
START_TIMEOUT_S = 15.0
APT_TIMEOUT_S = 600.0
_PROBE_PAUSE_S = 0.1


def redis_host_port(settings: Settings) -> tuple[str, int]:
    """Where Redis listens: host and port of SEGSTREAM_REDIS_URL."""
    host, port = settings.redis_host_port
    return plain_host(host), port


def redis_process(settings: Settings) -> ManagedProcess:
    """The Redis server of this checkout's stack."""
    root = stack_root(settings)
    host, port = redis_host_port(settings)
    return ManagedProcess(
        name=NAME,
        identity=IDENTITY,
        host=host,
        port=port,
        pid_file=root / "redis.pid",
        log_path=root / "redis.log",
    )


def redis_config(settings: Settings) -> str:
    """redis.conf: loopback, no snapshots, no append-only file, in the foreground."""
    host, port = redis_host_port(settings)
    root = stack_root(settings)
    lines = [
        f"bind {'127.0.0.1' if host == 'localhost' else host}",  # bind takes addresses
        f"port {port}",
        "protected-mode yes",
        'save ""',
        "appendonly no",
        "daemonize no",
        f"dir {_quoted(str(root / 'redis'))}",
        f"logfile {_quoted(str(redis_process(settings).log_path))}",
    ]
    if settings.redis_password_text:
        lines.append(f"requirepass {_quoted(settings.redis_password_text)}")
    return "\n".join(lines) + "\n"


def check_redis(settings: Settings, *, log: Callable[[str], None]) -> None:
    """Checks before anything starts: a loopback redis:// URL, a free port, ``redis-server``.

    Installs ``redis-server`` with apt-get when it is missing and we run as root.
    """
    _require_plain_tcp(settings)
    host, port = redis_host_port(settings)
    require_loopback(host, URL_SETTING)
    require_free_port(host, port, what="Redis", setting=URL_SETTING)
    redis_server_binary(log=log)


def prepare_redis(settings: Settings, *, log: Callable[[str], None]) -> list[str]:
    """Write the configuration; returns the command that runs Redis."""
    binary = redis_server_binary(log=log)
    work_dir = stack_root(settings) / "redis"
    work_dir.mkdir(parents=True, exist_ok=True)
    config = work_dir / "redis.conf"
    _write_private(config, redis_config(settings))
    return [binary, str(config)]


def redis_server_binary(*, log: Callable[[str], None]) -> str:
    """``redis-server`` from PATH; when missing and running as root, installed with apt-get."""
    found = shutil.which("redis-server")
    if found is not None:
        return found
    if os.geteuid() != 0:
        raise StackError(
            f"`redis-server` is not on PATH: install the {PACKAGE} package "
            f"(sudo apt-get install {PACKAGE}) and run `up` again"
        )
    _apt_install(log)
    found = shutil.which("redis-server")
    if found is None:
        raise StackError(
            f"apt-get installed {PACKAGE} but `redis-server` is still not on PATH: "
            "add /usr/bin to PATH"
        )
    return found


def wait_until_redis_answers(settings: Settings, alive: Callable[[], bool]) -> None:
    """Return once Redis answers PING; StackError if it exits or after 15 s."""
    host, port = redis_host_port(settings)
    log_path = redis_process(settings).log_path
    client = redis.Redis(
        host=host,
        port=port,
        password=settings.redis_password_text,
        socket_connect_timeout=1,
        socket_timeout=1,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while not _answers(client):
            if not alive():
                raise StackError(
                    f"Redis exited during start-up: {log_tail(log_path)}; see {log_path}"
                )
            if time.monotonic() >= deadline:
                raise StackError(
                    f"Redis did not answer PING on {url_host(host)}:{port} within "
                    f"{START_TIMEOUT_S:.0f}s: {log_tail(log_path)}; see {log_path}"
                )
            time.sleep(_PROBE_PAUSE_S)
    finally:
        client.close()


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def _require_plain_tcp(settings: Settings) -> None:
    scheme = urlsplit(settings.redis_url).scheme
    if scheme != "redis":
        raise StackError(
            f"the dev stack serves Redis over plain TCP, but {URL_SETTING} is a {scheme}:// URL: "
            "use redis://127.0.0.1:6379/0"
        )


def _apt_install(log: Callable[[str], None]) -> None:
    apt = shutil.which("apt-get")
    if apt is None:
        raise StackError(
            "`redis-server` is not on PATH and there is no apt-get to install it: "
            "install Redis with this system's package manager"
        )
    log(f"redis: `redis-server` is missing, installing {PACKAGE} with apt-get")
    if _apt(apt, "install", "-y", PACKAGE).returncode == 0:
        return
    _apt(apt, "update")  # a fresh machine's package lists may be empty or stale
    done = _apt(apt, "install", "-y", PACKAGE)
    if done.returncode != 0:
        lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
        raise StackError(
            f"apt-get install -y {PACKAGE} failed: {' | '.join(lines[-2:])[-300:]}; "
            "install it by hand and run `up` again"
        )


def _apt(apt: str, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [apt, *args],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=APT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(
            f"apt-get {' '.join(args)} took over {APT_TIMEOUT_S:.0f}s: "
            f"install {PACKAGE} by hand and run `up` again"
        ) from exc


def _quoted(value: str) -> str:
    """A redis.conf string argument: double quotes, backslashes and quotes escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as config:
        os.fchmod(config.fileno(), 0o600)  # an older, wider file keeps its mode otherwise
        config.write(text)
