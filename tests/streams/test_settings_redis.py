"""The Redis user and TLS settings: bad combinations are refused at start-up, naming the variable;
the password never shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.settings import Settings
from tests.streams.settings_refusals import refusal

TLS_URL = "rediss://127.0.0.1:6380/0"


def test_plaintext_default_is_unchanged() -> None:
    settings = Settings()
    assert settings.redis_url.startswith("redis://")
    assert settings.redis_username is None
    assert settings.redis_ssl_ca_file is None
    assert settings.redis_ssl_check_hostname is True


def test_tls_files_with_a_rediss_url_are_accepted(pem: Path) -> None:
    settings = Settings(
        redis_url=TLS_URL,
        redis_ssl_ca_file=pem,
        redis_ssl_cert_file=pem,
        redis_ssl_key_file=pem,
        redis_username="segstream",
        redis_password=SecretStr("secret"),
    )
    assert settings.redis_ssl_ca_file == pem


def test_tls_files_with_a_plain_url_are_refused(pem: Path) -> None:
    message = refusal(redis_url="redis://127.0.0.1:6379/0", redis_ssl_ca_file=pem)
    assert "SEGSTREAM_REDIS_SSL_CA_FILE is set but SEGSTREAM_REDIS_URL is redis://" in message
    assert "rediss://" in message


def test_a_missing_ca_file_is_refused_with_its_name(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    message = refusal(redis_url=TLS_URL, redis_ssl_ca_file=missing)
    assert f"SEGSTREAM_REDIS_SSL_CA_FILE={missing}: no readable file there" in message


def test_a_directory_is_not_a_ca_file(tmp_path: Path) -> None:
    assert "no readable file" in refusal(redis_url=TLS_URL, redis_ssl_ca_file=tmp_path)


def test_a_certificate_without_its_key_is_refused(pem: Path) -> None:
    message = refusal(redis_url=TLS_URL, redis_ssl_cert_file=pem)
    assert "SEGSTREAM_REDIS_SSL_CERT_FILE and SEGSTREAM_REDIS_SSL_KEY_FILE go together" in message
    assert "go together" in refusal(redis_url=TLS_URL, redis_ssl_key_file=pem)


def test_a_user_named_twice_is_refused() -> None:
    message = refusal(redis_url="redis://alice@127.0.0.1:6379/0", redis_username="bob")
    assert "SEGSTREAM_REDIS_USERNAME" in message


def test_a_password_in_the_url_is_still_refused() -> None:
    assert "SEGSTREAM_REDIS_PASSWORD" in refusal(redis_url="rediss://u:pw@127.0.0.1:6380/0")


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, pem: Path) -> None:
    monkeypatch.setenv("SEGSTREAM_REDIS_URL", TLS_URL)
    monkeypatch.setenv("SEGSTREAM_REDIS_USERNAME", "segstream")
    monkeypatch.setenv("SEGSTREAM_REDIS_SSL_CA_FILE", str(pem))
    monkeypatch.setenv("SEGSTREAM_REDIS_SSL_CHECK_HOSTNAME", "false")
    settings = Settings()
    assert (settings.redis_username, settings.redis_ssl_ca_file) == ("segstream", pem)
    assert settings.redis_ssl_check_hostname is False


def test_to_env_round_trips_the_tls_settings(monkeypatch: pytest.MonkeyPatch, pem: Path) -> None:
    """Workers and servers started by the CLI or tests get their settings this way."""
    settings = Settings(
        redis_url=TLS_URL,
        redis_username="segstream",
        redis_password=SecretStr("secret"),
        redis_ssl_ca_file=pem,
        redis_ssl_check_hostname=False,
    )
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings


def test_the_password_never_shows_in_repr_or_str() -> None:
    settings = Settings(redis_password=SecretStr("hunter2-secret"))
    for text in (repr(settings), str(settings), repr(settings.model_dump())):
        assert "hunter2-secret" not in text
    assert settings.redis_password_text == "hunter2-secret"


def test_a_cluster_url_must_select_database_0() -> None:
    message = refusal(redis_url="redis://127.0.0.1:7000/3", redis_cluster=True)
    assert "SEGSTREAM_REDIS_CLUSTER=true" in message
    assert "database 3" in message
    assert Settings(redis_url="redis://127.0.0.1:7000", redis_cluster=True).redis_cluster


@pytest.mark.parametrize("nodes", ["h1", "h1:0", "h1:70000", ":7000", "h1:7000,h2"])
def test_malformed_cluster_nodes_are_refused(nodes: str) -> None:
    assert "expected host:port" in refusal(redis_cluster_nodes=nodes)


def test_cluster_nodes_are_parsed_into_startup_nodes() -> None:
    settings = Settings(redis_cluster=True, redis_cluster_nodes=" h1:7001, ,[::1]:7002")
    assert settings.redis_cluster_startup_nodes == [("h1", 7001), ("[::1]", 7002)]
