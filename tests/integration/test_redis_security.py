"""A Redis with TLS on and an ACL user (redis-server of this module's own, certificates made with
openssl): the worker, the CLI, the read client and the storefront work through ``rediss://``
with a user and password; what Redis refuses (password, user, CA, plain text on a TLS port) is one
line naming the setting, exit code 2, without waiting; the password shows nowhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from pydantic import SecretStr

from streams.client import SegmentClient
from streams.dependencies import wait_for_redis
from streams.errors import EXIT_UNHEALTHY, EXIT_USAGE
from streams.redis_connection import RedisRefusedError, sync_client
from streams.settings import Settings
from streams.stack.redis_server import redis_binary
from streams.stack.tls import StackCertificates, stack_certificates
from tests.integration.harness import (
    WorkerProcess,
    free_port,
    isolated_settings,
    produce,
    wait_until,
)
from tests.integration.test_end_to_end import purchase
from tests.integration.test_storefront import running_storefront

pytestmark = pytest.mark.integration

USER = "segstream"
PASSWORD = "tls-acl-secret-4f9c"  # searched for in logs and output: it must never show
# A command that waited for Redis instead of stopping at the refusal would outlive this bound
# (SEGSTREAM_DEPENDENCY_TIMEOUT_S is set far beyond it), so it fails rather than passes slowly.
NO_WAIT = {"SEGSTREAM_DEPENDENCY_TIMEOUT_S": "3600"}
COMMAND_BOUND_S = 120


@dataclass(frozen=True)
class TlsRedis:
    port: int
    certificates: StackCertificates  # its CA, its own certificate and a client certificate
    other_ca: Path  # a CA that signed nothing this Redis presents

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0"

    @property
    def ca(self) -> Path:
        return self.certificates.ca


@contextmanager
def running_tls_redis(directory: Path, tls: Path, auth_clients: str) -> Iterator[TlsRedis]:
    """redis-server with TLS only (certificates made like the dev stack's, kept in ``tls``), USER
    its only user; on 127.0.0.1 and 127.0.0.2, which its certificate does not name."""
    certificates = stack_certificates(tls / "ours")
    server = TlsRedis(free_port(), certificates, stack_certificates(tls / "other").ca)
    keys = str(certificates.broker_keystore)  # its key, then its certificate
    command = [redis_binary(), "--bind", "127.0.0.1", "127.0.0.2", "--port", "0",
               "--tls-port", str(server.port), "--tls-cert-file", keys, "--tls-key-file", keys,
               "--tls-ca-cert-file", str(server.ca), "--tls-auth-clients", auth_clients,
               "--save", "", "--appendonly", "no", "--dir", str(directory),
               "--user", USER, "on", f">{PASSWORD}", "~*", "&*", "+@all",
               "--user", "default", "off"]  # fmt: skip
    with (directory / "redis.log").open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        client = sync_client(with_client_certificate(secured(Settings(), server), server))
        wait_until(lambda: _pings(client), timeout_s=30, what="the TLS redis-server")
        client.close()
        yield server
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(15)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the certificates are made, once for the module (each RSA key takes a while)."""
    return tmp_path_factory.mktemp("tls")


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory, tls_files: Path) -> Iterator[TlsRedis]:
    directory = tmp_path_factory.mktemp("tls-redis")
    with running_tls_redis(directory, tls_files, auth_clients="no") as server:
        yield server


@pytest.fixture(scope="module")
def mtls_redis(tmp_path_factory: pytest.TempPathFactory, tls_files: Path) -> Iterator[TlsRedis]:
    """A Redis with ``tls-auth-clients yes``: a client certificate signed by its CA or nothing."""
    directory = tmp_path_factory.mktemp("mtls-redis")
    with running_tls_redis(directory, tls_files, auth_clients="yes") as server:
        yield server


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def secured(base: Settings, server: TlsRedis, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "redis_url": server.url,
        "redis_username": USER,
        "redis_password": SecretStr(PASSWORD),
        "redis_ssl_ca_file": server.ca,
    }
    values.update(overrides)
    return base.model_copy(update=values)


def with_client_certificate(settings: Settings, server: TlsRedis) -> Settings:
    certificates = server.certificates
    return settings.model_copy(
        update={
            "redis_ssl_cert_file": certificates.client_cert,
            "redis_ssl_key_file": certificates.client_key,
        }
    )


def cli(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *arguments],
        env={**os.environ, **settings.to_env(), **NO_WAIT},
        capture_output=True, text=True, timeout=COMMAND_BOUND_S, check=False,
    )  # fmt: skip


def test_worker_cli_read_client_and_storefront_work_through_tls_with_a_user(
    stack: Settings, tls_redis: TlsRedis, tmp_path: Path
) -> None:
    settings = isolated_settings(secured(stack, tls_redis), tmp_path / "worker")
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        produce(settings, [("alice", purchase("alice", 1, "150.00"))])
        client = SegmentClient.from_settings(settings)
        member = wait_until(
            lambda: client.segments("alice").segments, timeout_s=60, what="alice's segments"
        )
        assert "big_spenders" in member

        segments = cli(settings, "segments", "alice", "--json")
        assert segments.returncode == 0, segments.stderr
        assert "big_spenders" in json.loads(segments.stdout)["segments"]
        report = cli(settings, "report")
        assert report.returncode == 0, report.stderr
        status = cli(settings, "status", "--json")
        assert json.loads(status.stdout)["redis"]["up"] is True, status.stdout

        with running_storefront(settings, tmp_path / "storefront.log") as url:
            page = f"{url}/api/segments?customer=alice"
            with urllib.request.urlopen(page, timeout=30) as response:  # loopback only
                answer = json.loads(response.read())
        assert "big_spenders" in answer["segments"]
        assert not answer.get("fallback")
    finally:
        worker.stop()
    for output in (worker.log(), segments.stdout, segments.stderr, report.stdout, status.stdout):
        assert PASSWORD not in output


@pytest.mark.parametrize(
    ("user", "password"),
    [(USER, "not-the-password"), ("nobody", PASSWORD), (None, None)],
    ids=["wrong password", "unknown user", "default user (disabled)"],
)
def test_a_refused_user_or_password_is_one_line_at_once(
    stack: Settings, tls_redis: TlsRedis, user: str | None, password: str | None
) -> None:
    settings = secured(
        stack,
        tls_redis,
        redis_username=user,
        redis_password=SecretStr(password) if password else None,
    )
    for command in (["segments", "alice"], ["report"]):
        done = cli(settings, *command)
        assert done.returncode == EXIT_USAGE, (command, done.stderr)
        assert done.stderr.count("\n") == 1, done.stderr
        assert "SEGSTREAM_REDIS_USERNAME and SEGSTREAM_REDIS_PASSWORD" in done.stderr
        assert PASSWORD not in done.stderr + done.stdout
    status = cli(settings, "status")  # a screen of its own: Redis is one of its lines
    assert status.returncode == EXIT_UNHEALTHY, status.stderr
    assert "REDIS  DOWN: " in status.stdout
    assert "SEGSTREAM_REDIS_USERNAME and SEGSTREAM_REDIS_PASSWORD" in status.stdout
    assert PASSWORD not in status.stdout


def test_a_worker_with_a_wrong_password_stops_at_start_with_one_line(
    stack: Settings, tls_redis: TlsRedis, tmp_path: Path
) -> None:
    settings = isolated_settings(
        secured(stack, tls_redis, redis_password=SecretStr("not-the-password")),
        tmp_path / "worker",
    )
    done = cli(settings, "worker")
    assert done.returncode == EXIT_USAGE, done.stderr
    assert done.stderr.startswith("segstream: Redis at rediss://"), done.stderr
    assert done.stderr.count("\n") == 1
    assert "SEGSTREAM_REDIS_PASSWORD" in done.stderr


def test_an_untrusted_certificate_names_the_ca_setting(
    stack: Settings, tls_redis: TlsRedis
) -> None:
    settings = secured(stack, tls_redis, redis_ssl_ca_file=tls_redis.other_ca)
    done = cli(settings, "segments", "alice")
    assert done.returncode == EXIT_USAGE, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "SEGSTREAM_REDIS_SSL_CA_FILE" in done.stderr
    with pytest.raises(RedisRefusedError, match="SEGSTREAM_REDIS_SSL_CA_FILE"):
        wait_for_redis(settings, timeout_s=COMMAND_BOUND_S)  # ends at the refusal: no timeout


def test_a_plain_url_on_the_tls_port_is_told_to_use_rediss(
    stack: Settings, tls_redis: TlsRedis
) -> None:
    settings = secured(
        stack, tls_redis, redis_url=f"redis://127.0.0.1:{tls_redis.port}/0", redis_ssl_ca_file=None
    )
    done = cli(settings, "segments", "alice")
    assert done.returncode == EXIT_USAGE, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "rediss://" in done.stderr
    with pytest.raises(RedisRefusedError, match="rediss://"):
        wait_for_redis(settings, timeout_s=COMMAND_BOUND_S)


def test_a_hostname_the_certificate_does_not_hold_is_refused_unless_unchecked(
    stack: Settings, tls_redis: TlsRedis
) -> None:
    """The certificate names 127.0.0.1 and localhost; 127.0.0.2 reaches the same loopback."""
    elsewhere = f"rediss://127.0.0.2:{tls_redis.port}/0"
    settings = secured(stack, tls_redis, redis_url=elsewhere)
    with pytest.raises(RedisRefusedError, match="SEGSTREAM_REDIS_SSL_CHECK_HOSTNAME"):
        wait_for_redis(settings, timeout_s=COMMAND_BOUND_S)
    wait_for_redis(secured(stack, tls_redis, redis_url=elsewhere, redis_ssl_check_hostname=False))


def test_a_client_certificate_opens_a_redis_that_requires_one(
    stack: Settings, mtls_redis: TlsRedis
) -> None:
    settings = secured(stack, mtls_redis)
    done = cli(with_client_certificate(settings, mtls_redis), "segments", "alice")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "alice: no segments"

    without = cli(settings, "segments", "alice")
    assert without.returncode == EXIT_USAGE, without.stderr
    assert without.stderr.count("\n") == 1, without.stderr
    assert "SEGSTREAM_REDIS_SSL_CERT_FILE" in without.stderr
    with pytest.raises(RedisRefusedError, match="SEGSTREAM_REDIS_SSL_CERT_FILE"):
        wait_for_redis(settings, timeout_s=COMMAND_BOUND_S)
