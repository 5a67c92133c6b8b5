"""Redis for development and tests, loopback only, with the append-only file the README asks
operators for: its data survives ``segstream dev down`` and ``up``, as the worker's profiles do."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from streams.redis_connection import sync_client
from streams.settings import Settings
from streams.stack.processes import (
    Managed,
    StackError,
    require_free_port,
    require_loopback,
    run_with_progress,
)

START_TIMEOUT_S = 15.0


def redis_process(settings: Settings) -> Managed:
    return Managed("redis", settings.stack_dir / "redis.pid", "redis-server")


def redis_binary() -> str:
    """redis-server from PATH, installing Debian's package when root and it is missing."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError("redis-server is not installed: install it (apt-get install redis-server)")
    print("installing redis-server with apt-get: about half a minute", flush=True)
    install = ["install", "-y", "-qq", "redis-server"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "apt-get.log"
        if _apt_get(install, env, log) != 0:
            _apt_get(["update", "-qq"], env, log)
            if _apt_get(install, env, log) != 0:
                tail = log.read_text(errors="replace").strip()[-200:]
                raise StackError(f"apt-get install redis-server failed: {tail}")
    found = shutil.which("redis-server")
    if found is None:
        raise StackError("redis-server is still not on PATH after installing it")
    return found


def _apt_get(arguments: list[str], env: dict[str, str], log: Path) -> int:
    command = apt_get_command(arguments)
    return run_with_progress(command, what=f"apt-get {arguments[0]}", log_path=log, env=env)


def apt_get_command(arguments: list[str]) -> list[str]:
    """apt-get that waits up to 5 minutes for dpkg's lock: another apt-get (a parallel install,
    unattended upgrades) often holds it for a while, and failing the whole stack for that is wrong.

    >>> apt_get_command(["update", "-qq"])
    ['apt-get', '-o', 'DPkg::Lock::Timeout=300', 'update', '-qq']
    """
    return ["apt-get", "-o", "DPkg::Lock::Timeout=300", *arguments]


def start_redis(settings: Settings) -> str:
    process = redis_process(settings)
    if process.pid() is not None:
        return f"already running (pid {process.pid()})"
    host, port = settings.redis_host_port
    require_loopback(host, "Redis")
    require_free_port(host, port, "Redis", "SEGSTREAM_REDIS_URL")
    binary = redis_binary()
    stack = settings.stack_dir.resolve()
    data = stack / "redis"
    data.mkdir(parents=True, exist_ok=True)
    command = [binary, "--bind", host, "--port", str(port), "--save", ""]
    command += ["--appendonly", "yes", "--appendfsync", "everysec"]
    command += ["--daemonize", "no", "--dir", str(data), "--protected-mode", "yes"]
    if settings.redis_password_text:
        command += ["--requirepass", settings.redis_password_text]
    child = process.start(command, stack / "redis.log", stack)
    _wait_ready(settings, child)
    return f"started (pid {child.pid})"


def _wait_ready(settings: Settings, child: subprocess.Popen[bytes]) -> None:
    client = sync_client(settings, connect_timeout_s=1)
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise StackError(f"redis-server exited during start-up; see {settings.stack_dir}")
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.2)
    finally:
        client.close()
    raise StackError(f"Redis did not answer within {START_TIMEOUT_S:.0f}s")
