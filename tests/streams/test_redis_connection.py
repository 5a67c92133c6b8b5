"""Every Redis client is made from the settings in one place, and the failures that waiting will
not cure (credentials, TLS) become one line naming the setting. No Redis needed: clients connect
lazily, and the errors are the ones redis-py raises (messages as seen against redis-server 7)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from pydantic import SecretStr

from streams.cli_boundary import failure_line
from streams.errors import EXIT_UNAVAILABLE, EXIT_USAGE
from streams.redis_connection import (
    async_client,
    connection_options,
    refused_connection,
    sync_client,
)
from streams.settings import Settings
from tests.integration.harness import free_port

TLS_URL = "rediss://127.0.0.1:6380/0"
PLAIN_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def tls_settings(tmp_path: Path) -> Settings:
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text("PEM\n")
    return Settings(
        redis_url=TLS_URL,
        redis_username="segstream",
        redis_password=SecretStr("secret"),
        redis_ssl_ca_file=tmp_path / "ca.pem",
        redis_ssl_cert_file=tmp_path / "client.pem",
        redis_ssl_key_file=tmp_path / "client.key",
        redis_ssl_check_hostname=False,
    )


def test_a_plain_url_gets_only_the_password() -> None:
    options = connection_options(Settings(redis_url=PLAIN_URL, redis_password=SecretStr("pw")))
    assert options == {"password": "pw"}


def test_a_rediss_url_gets_user_and_tls_files(tls_settings: Settings, tmp_path: Path) -> None:
    assert connection_options(tls_settings) == {
        "password": "secret",
        "username": "segstream",
        "ssl_ca_certs": str(tmp_path / "ca.pem"),
        "ssl_certfile": str(tmp_path / "client.pem"),
        "ssl_keyfile": str(tmp_path / "client.key"),
        "ssl_check_hostname": False,
    }


def test_sync_and_async_clients_carry_the_same_tls_settings(
    tls_settings: Settings, tmp_path: Path
) -> None:
    blocking = sync_client(tls_settings, socket_timeout_s=5, connect_timeout_s=3, retries=0)
    asynchronous = async_client(tls_settings, socket_timeout_s=1, connect_timeout_s=1)
    for client, timeout in ((blocking, 5), (asynchronous, 1)):
        kwargs = client.connection_pool.connection_kwargs
        assert "SSL" in client.connection_pool.connection_class.__name__
        assert (kwargs["username"], kwargs["password"]) == ("segstream", "secret")
        assert kwargs["ssl_ca_certs"] == str(tmp_path / "ca.pem")
        assert kwargs["ssl_keyfile"] == str(tmp_path / "client.key")
        assert kwargs["socket_timeout"] == timeout
    assert blocking.connection_pool.connection_kwargs["retry"].get_retries() == 0


def test_a_plain_client_is_not_tls() -> None:
    client = sync_client(Settings(redis_url=PLAIN_URL), connect_timeout_s=1)
    assert client.connection_pool.connection_class is redis.Connection
    assert client.connection_pool.connection_kwargs["socket_connect_timeout"] == 1


WRONG_CA = (
    "Error 1 connecting to 127.0.0.1:41733. [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
    "failed: self-signed certificate in certificate chain (_ssl.c:1006)."
)
WRONG_HOST = (
    "Error 1 connecting to 127.0.0.2:6380. [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
    "failed: IP address mismatch, certificate is not valid for '127.0.0.2'."
)
TLS_ALERT = "Error while reading: [SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED]"
RESET = "Error while reading from 127.0.0.1:41733 : (104, 'Connection reset by peer')"


@pytest.mark.parametrize(
    ("exc", "url", "named"),
    [
        (
            redis.AuthenticationError("invalid username-password pair or user is disabled."),
            TLS_URL,
            "SEGSTREAM_REDIS_USERNAME and SEGSTREAM_REDIS_PASSWORD",
        ),
        (redis.ConnectionError(WRONG_CA), TLS_URL, "set SEGSTREAM_REDIS_SSL_CA_FILE"),
        (redis.ConnectionError(WRONG_HOST), TLS_URL, "SEGSTREAM_REDIS_SSL_CHECK_HOSTNAME=false"),
        (redis.ConnectionError(TLS_ALERT), TLS_URL, "SEGSTREAM_REDIS_SSL_CERT_FILE"),
        (redis.ConnectionError(RESET), PLAIN_URL, "use a rediss:// SEGSTREAM_REDIS_URL"),
    ],
    ids=["password or user", "untrusted CA", "other host", "client certificate", "plain on TLS"],
)
def test_a_refusal_is_one_line_naming_the_setting(
    exc: redis.RedisError, url: str, named: str
) -> None:
    line = refused_connection(exc, url)
    assert line is not None
    assert "\n" not in line
    assert url in line
    assert named in line


def test_an_ssl_error_kept_only_as_the_context_still_counts() -> None:
    """The blocking client keeps the ssl exception as the context of its ConnectionError."""
    exc = redis.ConnectionError("Error 1 connecting to 127.0.0.1:6380.")
    exc.__context__ = ssl.SSLCertVerificationError(1, "certificate verify failed")
    line = refused_connection(exc, TLS_URL)
    assert line is not None
    assert "SEGSTREAM_REDIS_SSL_CA_FILE" in line


@pytest.mark.parametrize(
    "exc",
    [
        redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
        redis.TimeoutError("Timeout connecting to server"),
        redis.BusyLoadingError("Redis is loading the dataset in memory"),
        redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
    ],
)
def test_what_waiting_may_cure_is_not_a_refusal(exc: redis.RedisError) -> None:
    assert refused_connection(exc, PLAIN_URL) is None


def test_the_cli_exits_2_naming_the_setting_for_a_refusal() -> None:
    exc = redis.AuthenticationError("invalid username-password pair or user is disabled.")
    code, line = failure_line(exc, Settings(redis_url=TLS_URL))
    assert code == EXIT_USAGE
    assert "SEGSTREAM_REDIS_PASSWORD" in line


def test_the_cli_still_says_unreachable_when_redis_is_down() -> None:
    exc = redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    code, line = failure_line(exc, Settings())
    assert code == EXIT_UNAVAILABLE
    assert line.startswith("Redis unreachable")


def test_the_cli_says_unreachable_when_no_node_of_a_cluster_answers() -> None:
    """redis-py raises a RedisClusterException (from the last node's ConnectionError), which
    the CLI called a refusal: "refused the request" for a cluster that is down."""
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_cluster=True)
    with pytest.raises(redis.RedisClusterException) as raised:
        sync_client(settings, socket_timeout_s=1)
    code, line = failure_line(raised.value, settings)
    assert code == EXIT_UNAVAILABLE
    assert line.startswith("Redis unreachable at redis://127.0.0.1:")


def test_a_cluster_setting_makes_a_cluster_client_that_starts_from_every_node_named() -> None:
    """The asyncio client connects on first use only, so it is built here without a server
    (the blocking one connects at once: tests/integration/test_redis_cluster.py)."""
    settings = Settings(
        redis_url="redis://127.0.0.1:7000/0",
        redis_cluster=True,
        redis_cluster_nodes="127.0.0.1:7001,127.0.0.1:7002",
        redis_password=SecretStr("pw"),
    )
    client: Any = async_client(settings, socket_timeout_s=2)
    assert isinstance(client, aioredis.RedisCluster)
    names = set(client.nodes_manager.startup_nodes)
    assert names == {"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"}
    assert client.connection_kwargs["password"] == "pw"
