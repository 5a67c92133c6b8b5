"""The dev stack's opt-in secured Redis: a rediss:// URL at dev up makes it listen with TLS only,
with the stack's certificates, and SEGSTREAM_REDIS_USERNAME its only user; the default stays plain.
Each test starts the stack's Redis on its own port and directory and stops it by its pid."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from pydantic import SecretStr

from streams.redis_connection import sync_client
from streams.settings import Settings
from streams.stack import StackError
from streams.stack.redis_server import (
    dev_redis_client_settings,
    redis_process,
    start_redis,
)
from tests.integration.harness import free_port

PASSWORD = "dev-redis-secret-7a1"


def stack_settings(tmp_path: Path, scheme: str, **values: object) -> Settings:
    # model_copy: the stack makes the CA file these settings will name.
    return Settings().model_copy(
        update={
            "redis_url": f"{scheme}://127.0.0.1:{free_port()}/0",
            "stack_dir": tmp_path / "stack",
            **values,
        }
    )


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    settings = stack_settings(
        tmp_path, "rediss", redis_username="dev", redis_password=SecretStr(PASSWORD)
    )
    said = start_redis(settings)
    try:
        yield settings, said
    finally:
        redis_process(settings).stop()


def pings(settings: Settings) -> bool:
    client = sync_client(settings, connect_timeout_s=2, socket_timeout_s=2, retries=0)
    try:
        return bool(client.ping())
    finally:
        client.close()


def test_a_rediss_url_starts_a_tls_redis_with_its_one_user(secured: tuple[Settings, str]) -> None:
    settings, said = secured
    clients = dev_redis_client_settings(settings)
    ca = settings.stack_dir.resolve() / "tls" / "ca.pem"
    assert clients.redis_ssl_ca_file == ca
    assert f"clients set SEGSTREAM_REDIS_SSL_CA_FILE={ca}" in said
    assert pings(clients)
    with pytest.raises(redis.AuthenticationError):
        pings(clients.model_copy(update={"redis_password": SecretStr("wrong")}))
    with pytest.raises(redis.AuthenticationError):  # the default user is off
        pings(clients.model_copy(update={"redis_username": None, "redis_password": None}))
    plain_url = clients.redis_url.replace("rediss://", "redis://")
    with pytest.raises(redis.ConnectionError):  # no plain-text port
        pings(clients.model_copy(update={"redis_url": plain_url, "redis_ssl_ca_file": None}))


def test_the_password_is_in_an_owner_only_file_not_the_process_list(
    secured: tuple[Settings, str],
) -> None:
    settings, _ = secured
    users = settings.stack_dir.resolve() / "redis" / "users.conf"
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    pid = redis_process(settings).pid()
    assert pid is not None
    assert PASSWORD not in Path(f"/proc/{pid}/cmdline").read_text()


def test_the_default_stack_redis_stays_plain_text(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path, "redis")
    said = start_redis(settings)
    try:
        assert "SSL_CA_FILE" not in said
        assert dev_redis_client_settings(settings) == settings
        assert pings(settings)
        assert not (settings.stack_dir / "tls").exists()
    finally:
        redis_process(settings).stop()


def test_a_password_redis_conf_cannot_hold_is_refused_in_one_line(tmp_path: Path) -> None:
    settings = stack_settings(
        tmp_path, "rediss", redis_username="dev", redis_password=SecretStr("two words")
    )
    with pytest.raises(StackError, match="only letters, digits"):
        start_redis(settings)
    assert redis_process(settings).pid() is None
