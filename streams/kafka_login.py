"""Why a Kafka broker turned our connection away, in one line naming the setting to fix.

The client libraries hide it: kafka-python reports a refused SASL password as
IncompatibleBrokerVersion, aiokafka as "Unable to bootstrap", and both retry. So when a secured
client cannot connect, :func:`login_problem` connects once more with aiokafka's bare connection,
which raises the broker's actual answer, and says what it means. A wrong password or an untrusted
certificate is then a :class:`KafkaLoginError` at once, not a wait that ends in "unreachable".
"""

from __future__ import annotations

import asyncio
import ssl
from concurrent.futures import ThreadPoolExecutor

from aiokafka.conn import create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from streams.errors import EXIT_USAGE, SegstreamError
from streams.kafka_security import security_options
from streams.settings import Settings

PROBE_TIMEOUT_S = 10.0


class KafkaLoginError(SegstreamError):
    """The broker answered but refused our credentials or certificates: a setting to fix."""

    exit_code = EXIT_USAGE


def login_problem(settings: Settings, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """One line saying why the first reachable broker refuses these settings' login, or None
    (PLAINTEXT, no broker reachable, or the login works)."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        return None
    # A thread of its own: callers may be inside a running event loop (the worker's ops).
    with ThreadPoolExecutor(1, thread_name_prefix="kafka-login") as pool:
        return pool.submit(asyncio.run, _probe_all(settings, timeout_s)).result()


def raise_if_refused(settings: Settings, cause: BaseException) -> None:
    """Raise KafkaLoginError, from ``cause``, if the broker refuses these settings' login."""
    problem = login_problem(settings)
    if problem is not None:
        raise KafkaLoginError(problem) from cause


async def _probe_all(settings: Settings, timeout_s: float) -> str | None:
    # The probe's own loop: a refused connection leaves aiokafka's reader task failed with the
    # same error, which asyncio would print as "Future exception was never retrieved".
    asyncio.get_running_loop().set_exception_handler(lambda _loop, _context: None)
    for server in settings.kafka_servers:
        host, _, port = server.rpartition(":")
        try:
            await asyncio.wait_for(_connect(settings, host, int(port)), timeout_s)
        except Exception as exc:
            problem = explain(settings, server, exc)
            if problem is not None:
                return problem
            continue  # not reachable, or not a login problem: the caller's own error says it
        return None
    return None


async def _connect(settings: Settings, host: str, port: int) -> None:
    # Connecting asks the broker's API versions: a broker that wants a client certificate says so
    # (TLS 1.3) only once something is sent.
    connection = await create_conn(host, port, **security_options(settings))
    connection.close()


def explain(settings: Settings, where: str, exc: BaseException) -> str | None:
    """The one line for a login failure ``exc`` (or its cause: aiokafka raises a connection error
    from the TLS one) at broker ``where``, or None if it is not one."""
    seen: BaseException | None = exc
    while seen is not None:
        line = _explain_one(settings, where, seen)
        if line is not None:
            return line
        seen = seen.__cause__
    return None


def _explain_one(settings: Settings, where: str, exc: BaseException) -> str | None:
    if isinstance(exc, SaslAuthenticationFailed):
        return (
            f"Kafka at {where} refused the SASL login of user {settings.kafka_sasl_username!r} "
            f"({settings.kafka_sasl_mechanism}): check SEGSTREAM_KAFKA_SASL_PASSWORD "
            "and SEGSTREAM_KAFKA_SASL_USERNAME"
        )
    if isinstance(exc, UnsupportedSaslMechanismError | IllegalSaslStateError):
        return (
            f"Kafka at {where} does not accept SASL {settings.kafka_sasl_mechanism} there: "
            "check SEGSTREAM_KAFKA_SASL_MECHANISM and SEGSTREAM_KAFKA_SECURITY_PROTOCOL"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _untrusted(settings, where, exc)
    if isinstance(exc, ssl.SSLError):
        return _tls_refused(settings, where, exc)
    return None


def _untrusted(settings: Settings, where: str, exc: ssl.SSLCertVerificationError) -> str:
    reason = exc.verify_message or exc.reason or str(exc)
    if "hostname" in reason.lower() or "ip address mismatch" in reason.lower():
        return (
            f"Kafka at {where} presented a certificate for another host ({reason}): use a name "
            "it holds in SEGSTREAM_KAFKA_BOOTSTRAP, or set SEGSTREAM_KAFKA_SSL_CHECK_HOSTNAME=false"
        )
    trusted = settings.kafka_ssl_cafile or "the system's CAs"
    return (
        f"Kafka at {where} presented a certificate not signed by a CA of "
        f"SEGSTREAM_KAFKA_SSL_CAFILE ({trusted}): {reason}"
    )


def _tls_refused(settings: Settings, where: str, exc: ssl.SSLError) -> str:
    reason = exc.reason or str(exc)
    unsigned = settings.kafka_ssl_certfile is None
    if "CERTIFICATE_REQUIRED" in reason or (unsigned and "BAD_CERTIFICATE" in reason):
        return (
            f"Kafka at {where} requires a client certificate ({reason}): set "
            "SEGSTREAM_KAFKA_SSL_CERTFILE and SEGSTREAM_KAFKA_SSL_KEYFILE"
        )
    if any(word in reason for word in ("BAD_CERTIFICATE", "UNKNOWN_CA", "CERTIFICATE_UNKNOWN")):
        return (
            f"Kafka at {where} refused the client certificate "
            f"SEGSTREAM_KAFKA_SSL_CERTFILE={settings.kafka_ssl_certfile} ({reason})"
        )
    return (
        f"TLS with Kafka at {where} failed ({reason}): does it listen with "
        f"SEGSTREAM_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} there?"
    )
