"""Background servers we start ourselves: pid files, liveness, ports, and stopping by pid only."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from streams.errors import SegstreamError


class StackError(SegstreamError):
    """The dev stack cannot start or stop; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Managed:
    """A server process identified by its pid file and a word its command line must contain."""

    name: str
    pid_file: Path
    marker: str  # guards against a recycled pid: /proc/<pid>/cmdline must contain it

    def pid(self) -> int | None:
        """The pid of our running server, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if self.marker in (_cmdline(pid) or ""):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(self, command: Sequence[str], log_path: Path, cwd: Path) -> subprocess.Popen[bytes]:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                list(command),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                start_new_session=True,
            )
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(f"{process.pid}\n")
        return process

    def terminate(self) -> bool:
        """SIGTERM our process group without waiting (``stop`` waits), so that peers that must
        shut down together, like the brokers of one cluster, all begin at once. False if nothing
        was running."""
        pid = self.pid()
        if pid is not None:
            _signal_group(pid, signal.SIGTERM)
        return pid is not None

    def stop(self, timeout_s: float = 20.0) -> bool:
        """SIGTERM our process group, wait, then SIGKILL. False if nothing was running."""
        pid = self.pid()
        if pid is None:
            return False
        _signal_group(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout_s):
            _signal_group(pid, signal.SIGKILL)
            _wait_gone(pid, 5.0)
        self.pid_file.unlink(missing_ok=True)
        return True


PROGRESS_EVERY_S = 20.0  # a line while a download runs: a slow network is not a hang


def run_with_progress(
    command: Sequence[str],
    *,
    what: str,
    log_path: Path,
    env: dict[str, str] | None = None,
    every_s: float = PROGRESS_EVERY_S,
    say: Callable[[str], None] = print,
) -> int:
    """Run ``command`` to its end, output to ``log_path``, saying every ``every_s`` that ``what``
    is still going; returns its exit status."""
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        while True:
            try:
                return process.wait(every_s)
            except subprocess.TimeoutExpired:
                say(f"    ... still {what} ({time.monotonic() - started:.0f} s)")


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
        state = proc_state(pid)
        if state is None or state == "Z":
            return True
        time.sleep(0.1)
    return False


def proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def require_loopback(host: str, what: str) -> None:
    """The dev stack serves loopback only; anything else is refused."""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise StackError(
        f"{what} host {host!r} is not a loopback address; the dev stack binds loopback only"
    )


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def require_free_port(host: str, port: int, what: str, setting: str) -> None:
    if port_in_use(host, port):
        raise StackError(
            f"port {host}:{port} for {what} is taken by another process: stop it, "
            f"or choose another port with {setting}"
        )
