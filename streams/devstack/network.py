"""Addresses the dev stack may listen on, and whether a port is free before we start a server."""

from __future__ import annotations

import errno
import ipaddress
import socket

from streams.devstack.errors import StackError

LOCALHOST = "localhost"


def plain_host(host: str) -> str:
    """``host`` without the brackets of a bracketed IPv6 literal (``[::1]`` -> ``::1``)."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def url_host(host: str) -> str:
    """``host`` as written before ``:port`` in a URL or listener: IPv6 literals in brackets."""
    bare = plain_host(host)
    return f"[{bare}]" if ":" in bare else bare


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and any 127.0.0.0/8 or ::1 literal; names are never resolved."""
    bare = plain_host(host)
    if bare == LOCALHOST:
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def require_loopback(host: str, setting: str) -> None:
    """Refuse any host outside loopback: the dev stack has no authentication."""
    if not is_loopback(host):
        raise StackError(
            f"{setting} names {host!r}, but the dev stack listens on loopback only "
            "(127.0.0.0/8, localhost or ::1): use 127.0.0.1"
        )


def require_free_port(host: str, port: int, *, what: str, setting: str) -> None:
    """Raise StackError naming ``host:port`` unless a server could listen there now."""
    problem = _bind_problem(host, port)
    if problem is not None:
        raise StackError(
            f"{what} cannot listen on {url_host(host)}:{port}: {problem}, "
            f"or choose another port with {setting}"
        )


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now."""
    return _bind_problem(host, port) is None


def _bind_problem(host: str, port: int) -> str | None:
    bare = plain_host(host)
    if bare == LOCALHOST:
        bare = "127.0.0.1"  # what Kafka and Redis bind for "localhost"
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # Kafka and Redis set SO_REUSEADDR too, so a TIME_WAIT left by our last run is no clash.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((bare, port))
        except OSError as exc:
            return _describe(exc)
    return None


def _describe(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the port is taken by another process: stop it"
    if exc.errno == errno.EACCES:
        return "ports below 1024 need root: run as root"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "no interface has that address: use 127.0.0.1"
    return f"{exc.strerror or exc}: free it"
