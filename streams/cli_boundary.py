"""The CLI's error boundary: every failure becomes one line and a documented exit code."""

from __future__ import annotations

import errno
import os
import sys

from streams.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_UNHEALTHY,
    EXIT_USAGE,
    SegstreamError,
)
from streams.settings import Settings

EXIT_CODES_HELP = f"""exit codes:
  {EXIT_OK}    done
  {EXIT_UNHEALTHY}    done, and the answer is no: status unhealthy, a check failed, not found
  {EXIT_USAGE}    bad arguments, settings or input files
  {EXIT_UNAVAILABLE}    Kafka, Redis, a worker or a port is not available (or a wait timed out)
  {EXIT_INTERNAL}    internal error (a bug; SEGSTREAM_TRACEBACK=1 shows the traceback)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
  {EXIT_BROKEN_PIPE}  the reader of the output went away (e.g. `| head`)"""

# Kafka client errors that mean "no broker answered" rather than "a broker said no".
_KAFKA_UNREACHABLE = {
    "NoBrokersAvailable",
    "KafkaConnectionError",
    "KafkaTimeoutError",
    "NodeNotReadyError",
    "RequestTimedOutError",
}


def failure_line(exc: Exception, settings: Settings | None) -> tuple[int, str]:
    """The exit code and the one line to print for an exception a command let through."""
    if isinstance(exc, SegstreamError):
        return exc.exit_code, str(exc)
    kafka = _kafka_failure(exc, settings)
    if kafka is not None:
        return EXIT_UNAVAILABLE, kafka
    refused = _redis_refused(exc, settings)
    if refused is not None:
        return EXIT_USAGE, refused
    redis = _redis_failure(exc, settings)
    if redis is not None:
        return EXIT_UNAVAILABLE, redis
    if isinstance(exc, OSError) and exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
        return EXIT_UNAVAILABLE, f"cannot listen: {exc.strerror} ({exc}); choose another port"
    if isinstance(exc, ConnectionError | TimeoutError):
        return EXIT_UNAVAILABLE, f"connection failed: {_one_line(exc)}"
    return EXIT_INTERNAL, (
        f"internal error {exc.__class__.__name__}: {_one_line(exc)} "
        "(a bug: please report it; SEGSTREAM_TRACEBACK=1 shows the traceback)"
    )


def _kafka_failure(exc: Exception, settings: Settings | None) -> str | None:
    module = exc.__class__.__module__
    if not module.startswith(("kafka.", "aiokafka.")):
        return None
    where = settings.kafka_bootstrap if settings else "SEGSTREAM_KAFKA_BOOTSTRAP"
    name = exc.__class__.__name__
    if name in _KAFKA_UNREACHABLE:
        return (
            f"Kafka unreachable at {where} ({name}): "
            "start it with `segstream dev up` or set SEGSTREAM_KAFKA_BOOTSTRAP"
        )
    return f"Kafka at {where} refused the request: {name}: {_one_line(exc)}"


def _redis_refused(exc: Exception, settings: Settings | None) -> str | None:
    """Redis refused the user, password or TLS settings: the setting to fix, not "unreachable"."""
    if not exc.__class__.__module__.startswith("redis."):
        return None
    # Imported here: redis costs every command ~0.15 s at start, and only a failure needs it.
    from streams.redis_connection import refused_connection  # noqa: PLC0415

    return refused_connection(exc, settings.redis_url if settings else "SEGSTREAM_REDIS_URL")


def _redis_failure(exc: Exception, settings: Settings | None) -> str | None:
    if not exc.__class__.__module__.startswith("redis."):
        return None
    where = settings.redis_url if settings else "SEGSTREAM_REDIS_URL"
    if _redis_unreachable(exc) or _redis_unreachable(exc.__cause__):
        return (
            f"Redis unreachable at {where} ({_one_line(exc)}): "
            "start it with `segstream dev up` or set SEGSTREAM_REDIS_URL"
        )
    return f"Redis at {where} refused the request: {_one_line(exc)}"


def _redis_unreachable(exc: BaseException | None) -> bool:
    """No Redis answered. A cluster client with every node down says so with a
    RedisClusterException raised from the ConnectionError of its last try."""
    return exc is not None and exc.__class__.__name__ in {
        "ConnectionError",
        "TimeoutError",
        "BusyLoadingError",
    }


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or exc.__class__.__name__


def quiet_broken_pipe() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail a second time
    (the way the Python documentation shows for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout has no file descriptor (captured in a test)
        pass
