"""The base of every error that is the user's to fix, and the exit codes the CLI documents.

The CLI prints a SegstreamError's one-line message and exits with its ``exit_code``.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

EXIT_OK = 0
EXIT_UNHEALTHY = 1  # ran, and the answer is "no": unhealthy, check failed, not found
EXIT_USAGE = 2  # bad arguments, settings or input files: fix the command or its configuration
EXIT_UNAVAILABLE = 3  # Kafka, Redis, a worker or a port is not there: start it or point elsewhere
EXIT_INTERNAL = 4  # a bug: the one line names the exception; SEGSTREAM_TRACEBACK=1 shows it all
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away, e.g. `| head` (128 + SIGPIPE)


class SegstreamError(Exception):
    """An error whose message says, in one line, the cause and what to do about it."""

    exit_code = EXIT_USAGE


class UnavailableError(SegstreamError):
    """Something the command needs is not there (a service, a port); one line: what and the fix."""

    exit_code = EXIT_UNAVAILABLE


def check_port_free(host: str, port: int, setting: str) -> None:
    """Raise UnavailableError naming ``setting`` when ``host:port`` cannot be listened on.

    Checked before a server starts, so a taken port is one line rather than a crash deep inside
    the server's start-up (another process can still take it in between: the server then fails).
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # What servers set too, so a port left in TIME_WAIT by a stopped server counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            cause = "in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            raise UnavailableError(
                f"cannot listen on {host}:{port} ({cause}): stop what uses it or set {setting}"
            ) from exc


def prepare_directory(path: Path, setting: str) -> None:
    """Create ``path`` and its parents, or raise SegstreamError naming ``setting``: Faust creates
    only the last level, and a missing parent was a traceback deep in its start-up.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as scratch:
    ...     prepare_directory(Path(scratch) / "a" / "b", "SEGSTREAM_DATA_DIR")
    ...     (Path(scratch) / "a" / "b").is_dir()
    True
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        cause = exc.strerror or str(exc)
        raise SegstreamError(f"cannot create {path} ({cause}): fix {setting}") from exc
