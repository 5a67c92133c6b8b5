"""Redis for development and tests, loopback only, with the append-only file the README asks
operators for: its data survives ``segstream dev down`` and ``up``, as the worker's profiles do.

Opt-in secured Redis: a ``rediss://`` SEGSTREAM_REDIS_URL at ``dev up`` makes it listen with TLS
only, with the stack's openssl certificates (streams/stack/tls.py); SEGSTREAM_REDIS_USERNAME makes
that user (with SEGSTREAM_REDIS_PASSWORD) its only one. The default stays plain text."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from streams.redis_connection import sync_client, uses_tls
from streams.settings import Settings
from streams.stack.processes import (
    Managed,
    StackError,
    require_free_port,
    require_loopback,
    run_with_progress,
)
from streams.stack.tls import StackCertificates, stack_certificates

START_TIMEOUT_S = 15.0
# What a redis.conf line holds without quoting (user names and passwords of the dev stack's user).
SAFE_CREDENTIAL = re.compile(r"[A-Za-z0-9._+@!-]+")


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
    command = [binary]
    if settings.redis_username is not None:  # a config file must be redis-server's first argument
        command.append(str(_users_file(settings, data)))
    command += ["--bind", host, *_listener_arguments(settings, port), "--save", ""]
    command += ["--appendonly", "yes", "--appendfsync", "everysec"]
    command += ["--daemonize", "no", "--dir", str(data), "--protected-mode", "yes"]
    if settings.redis_password_text and settings.redis_username is None:
        command += ["--requirepass", settings.redis_password_text]
    child = process.start(command, stack / "redis.log", stack)
    clients = dev_redis_client_settings(settings)
    _wait_ready(clients, child)
    if clients.redis_ssl_ca_file != settings.redis_ssl_ca_file:
        return f"started (pid {child.pid}); clients set SEGSTREAM_REDIS_SSL_CA_FILE={_ca(settings)}"
    return f"started (pid {child.pid})"


def _certificates(settings: Settings) -> StackCertificates:
    return stack_certificates(settings.stack_dir.resolve() / "tls")


def _ca(settings: Settings) -> Path:
    return _certificates(settings).ca


def _listener_arguments(settings: Settings, port: int) -> list[str]:
    """Plain text on ``port``; for a rediss:// URL, TLS there and no plain port at all. Client
    certificates are checked when presented (signed by the stack's CA), not required."""
    if not uses_tls(settings):
        return ["--port", str(port)]
    tls = _certificates(settings)
    # The key store holds the key and then the certificate; redis-server reads each from it.
    return ["--port", "0", "--tls-port", str(port),
            "--tls-cert-file", str(tls.broker_keystore), "--tls-key-file", str(tls.broker_keystore),
            "--tls-ca-cert-file", str(tls.ca), "--tls-auth-clients", "optional"]  # fmt: skip


def _users_file(settings: Settings, data: Path) -> Path:
    """A config file (owner-only) that makes SEGSTREAM_REDIS_USERNAME the only user: a file rather
    than arguments, which every local user could read in the process list."""
    user, password = settings.redis_username or "", settings.redis_password_text
    if not all(SAFE_CREDENTIAL.fullmatch(value) for value in (user, password) if value is not None):
        raise StackError(
            "the dev stack's Redis user and password may hold only letters, digits and ._-+@!"
        )
    secret = f">{password}" if password else "nopass"
    path = data / "users.conf"
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as conf:
        conf.write(f"user default off\nuser {user} on {secret} ~* &* +@all\n")
    return path


def dev_redis_client_settings(settings: Settings) -> Settings:
    """``settings`` completed with the stack's CA when they use TLS and name none: what clients
    of a secured dev Redis use."""
    if not uses_tls(settings) or settings.redis_ssl_ca_file is not None:
        return settings
    return settings.model_copy(update={"redis_ssl_ca_file": _ca(settings)})


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
