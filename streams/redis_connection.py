"""The one place Redis clients are made: the URL, user, password and TLS files from the settings,
and a cluster client (which finds the other nodes and follows failovers) when
SEGSTREAM_REDIS_CLUSTER is set.

Every client (the worker's writer, health probes, the CLI, the storefront, the dev stack, the
bench) comes from :func:`sync_client` or :func:`async_client`; each caller keeps its own
timeouts. :func:`refused_connection` turns a failure that waiting will not cure (credentials, an
untrusted certificate, TLS on one side only) into one line naming the setting to fix.
"""

from __future__ import annotations

import ssl
from typing import Any, cast
from urllib.parse import urlsplit

import redis
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from streams.errors import SegstreamError
from streams.settings import Settings

# What a Redis call raises when Redis, or a node of a Redis Cluster, cannot answer now. A cluster
# client that reaches no node raises RedisClusterException, which is not a RedisError.
REDIS_FAILURES: tuple[type[Exception], ...] = (redis.RedisError, RedisClusterException, OSError)


class RedisRefusedError(SegstreamError):
    """Redis refused this client's settings (user, password, TLS): fix them, waiting won't help.

    Exit code 2, like other bad settings."""


def uses_tls(settings: Settings) -> bool:
    return urlsplit(settings.redis_url).scheme == "rediss"


def connection_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``from_url``: credentials always, TLS files for a rediss:// URL.

    >>> connection_options(Settings(redis_url="redis://h:1/0"))
    {'password': None}
    >>> sorted(connection_options(Settings(redis_url="rediss://h:1/0", redis_username="u")))
    ['password', 'ssl_ca_certs', 'ssl_certfile', 'ssl_check_hostname', 'ssl_keyfile', 'username']
    """
    options: dict[str, Any] = {"password": settings.redis_password_text}
    if settings.redis_username is not None:
        options["username"] = settings.redis_username
    if uses_tls(settings):
        # A plain connection takes no ssl_* arguments: given only with TLS.
        options["ssl_ca_certs"] = _text(settings.redis_ssl_ca_file)
        options["ssl_certfile"] = _text(settings.redis_ssl_cert_file)
        options["ssl_keyfile"] = _text(settings.redis_ssl_key_file)
        options["ssl_check_hostname"] = settings.redis_ssl_check_hostname
    return options


def reply_text(value: bytes | str) -> str:
    """A Redis reply as text: redis-py gives bytes unless a client decodes responses.

    >>> reply_text(b"vip"), reply_text("vip")
    ('vip', 'vip')
    """
    return value.decode() if isinstance(value, bytes) else value


def _text(path: object) -> str | None:
    return None if path is None else str(path)


def sync_client(
    settings: Settings,
    *,
    socket_timeout_s: float | None = None,
    connect_timeout_s: float | None = None,
    retries: int | None = None,
) -> redis.Redis:
    """A blocking client; ``retries`` None keeps redis-py's default retry of a failed command."""
    options = _client_options(settings, socket_timeout_s, connect_timeout_s)
    if retries is not None:
        options["retry"] = Retry(NoBackoff(), retries)
    if settings.redis_cluster:
        start = settings.redis_cluster_startup_nodes
        nodes = [redis.cluster.ClusterNode(*node) for node in start]  # type: ignore[no-untyped-call]
        cluster = redis.RedisCluster.from_url(
            settings.redis_url, startup_nodes=nodes or None, **options
        )
        # The same commands as a standalone client; callers use those only (no MULTI, no
        # cross-slot command), so they need not tell the two apart.
        return cast(redis.Redis, cluster)
    return redis.Redis.from_url(settings.redis_url, **options)


def async_client(
    settings: Settings,
    *,
    socket_timeout_s: float | None = None,
    connect_timeout_s: float | None = None,
) -> aioredis.Redis:
    """An asyncio client, configured like :func:`sync_client`."""
    options = _client_options(settings, socket_timeout_s, connect_timeout_s)
    if settings.redis_cluster:
        start = settings.redis_cluster_startup_nodes
        nodes = [aioredis.cluster.ClusterNode(*node) for node in start]
        cluster = aioredis.RedisCluster.from_url(
            settings.redis_url, startup_nodes=nodes or None, **options
        )
        return cast(aioredis.Redis, cluster)
    return aioredis.Redis.from_url(settings.redis_url, **options)


def _client_options(
    settings: Settings, socket_timeout_s: float | None, connect_timeout_s: float | None
) -> dict[str, Any]:
    return {
        "socket_timeout": socket_timeout_s,
        "socket_connect_timeout": connect_timeout_s,
        **connection_options(settings),
    }


def refused_connection(exc: BaseException, url: str) -> str | None:
    """One line naming the setting to fix when ``exc`` says Redis at ``url`` refused this
    client's settings; None for anything waiting may cure (Redis down, slow, loading).

    >>> refused_connection(redis.AuthenticationError("invalid username-password pair"), "u")
    'Redis at u refused the user and password (invalid username-password pair): check SEGSTREAM_REDIS_USERNAME and SEGSTREAM_REDIS_PASSWORD'
    >>> refused_connection(redis.ConnectionError("Error 111 connecting. Connection refused."), "u")
    """  # noqa: E501
    text = " ".join(str(exc).split())[:300]
    if isinstance(exc, redis.AuthenticationError):
        return (
            f"Redis at {url} refused the user and password ({text}): "
            "check SEGSTREAM_REDIS_USERNAME and SEGSTREAM_REDIS_PASSWORD"
        )
    if not isinstance(exc, redis.ConnectionError):
        return None
    return _tls_refused(exc, text, url)


def _tls_refused(exc: redis.ConnectionError, text: str, url: str) -> str | None:
    # redis-py keeps the ssl error only in the message (and, when blocking, as the context).
    if "CERTIFICATE_VERIFY_FAILED" in text and "mismatch" in text:
        return (
            f"Redis at {url} has a certificate for another name ({text}): connect by a name it "
            "holds in SEGSTREAM_REDIS_URL, or set SEGSTREAM_REDIS_SSL_CHECK_HOSTNAME=false"
        )
    if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(
        exc.__context__, ssl.SSLCertVerificationError
    ):
        return (
            f"Redis at {url} presented a certificate this client does not trust ({text}): "
            "set SEGSTREAM_REDIS_SSL_CA_FILE to the CA file that signed it"
        )
    if "[SSL" in text or isinstance(exc.__context__, ssl.SSLError):
        return (
            f"TLS with Redis at {url} failed ({text}): check that Redis listens with TLS there, "
            "and SEGSTREAM_REDIS_SSL_CERT_FILE / SEGSTREAM_REDIS_SSL_KEY_FILE if it asks for a "
            "client certificate"
        )
    if urlsplit(url).scheme == "redis" and _closed_unanswered(text):
        # A Redis that is up answers even when it cannot serve (LOADING, max clients); one that
        # drops a plain connection at once is listening with TLS.
        return (
            f"Redis at {url} closed the connection without an answer ({text}): if it listens "
            "with TLS, use a rediss:// SEGSTREAM_REDIS_URL (and SEGSTREAM_REDIS_SSL_CA_FILE)"
        )
    return None


def _closed_unanswered(text: str) -> bool:
    return "Connection reset by peer" in text or "Connection closed by server" in text
