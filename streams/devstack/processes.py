"""Servers the dev stack starts itself: pid files, identity checks, and stopping by pid only.

A pid file records the pid, a word the process's command line must contain, the process's start
time and the address it serves. A pid is only trusted while all of them still match, so a stale
pid file whose pid the kernel has since given to another program is detected and never signalled.
Linux only: identity comes from ``/proc``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from streams.devstack.errors import StackError
from streams.devstack.network import url_host
from streams.settings import Settings

STOP_TIMEOUT_S = 20.0
KILL_TIMEOUT_S = 5.0
_POLL_S = 0.1

# Popen objects of the servers this interpreter started: keeping them lets us reap our own
# children (no zombies while `up` and `down` run in one process, as in tests) and avoids
# "subprocess is still running" warnings when they would otherwise be garbage collected.
_children: dict[int, subprocess.Popen[bytes]] = {}


def stack_root(settings: Settings) -> Path:
    """This checkout's stack directory (pid files, logs, data), absolute: servers run inside it."""
    return settings.stack_dir.expanduser().resolve()


@dataclass(frozen=True, slots=True)
class PidRecord:
    """What a pid file says about the server it names."""

    pid: int
    identity: str
    start_ticks: int | None  # None for a pid file that only held the pid (older format)
    address: str


@dataclass(frozen=True, slots=True)
class ManagedProcess:
    """One server of the stack, known by its pid file and a word its command line contains."""

    name: str
    identity: str
    host: str  # without IPv6 brackets
    port: int
    pid_file: Path
    log_path: Path

    @property
    def address(self) -> str:
        """``host:port`` as clients write it (IPv6 in brackets)."""
        return f"{url_host(self.host)}:{self.port}"

    def running(self) -> PidRecord | None:
        """The record of our server if its pid file names a live process that is still it."""
        record = self._read()
        if record is None or not _is_same_process(record):
            return None
        return record

    def has_stale_pid_file(self) -> bool:
        """A pid file exists but names no live process of ours."""
        return self.pid_file.exists() and self.running() is None

    def forget_stale(self) -> bool:
        """Remove a stale pid file; True when there was one."""
        if not self.has_stale_pid_file():
            return False
        self.pid_file.unlink(missing_ok=True)
        return True

    def start(self, command: Sequence[str], *, cwd: Path) -> subprocess.Popen[bytes]:
        """Start ``command`` detached, in its own session, output appended to ``log_path``."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            child = subprocess.Popen(
                list(command),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the CLI; its group is ours to signal
            )
        _children[child.pid] = child
        start_ticks = _start_ticks(child.pid)
        self._write(PidRecord(child.pid, self.identity, start_ticks, self.address))
        return child

    def stop(
        self, *, timeout_s: float = STOP_TIMEOUT_S, kill_timeout_s: float = KILL_TIMEOUT_S
    ) -> PidRecord | None:
        """SIGTERM our server's process group, wait, SIGKILL after ``timeout_s``.

        Returns the record of the server stopped, or None when none of ours was running (a stale
        pid file is removed, its pid left alone).
        """
        record = self.running()
        if record is None:
            self.pid_file.unlink(missing_ok=True)
            return None
        _signal_group(record.pid, signal.SIGTERM)
        if not _wait_gone(record.pid, timeout_s):
            _signal_group(record.pid, signal.SIGKILL)
            if not _wait_gone(record.pid, kill_timeout_s):
                raise StackError(
                    f"{self.name} (pid {record.pid}) survived SIGKILL for {kill_timeout_s:.0f}s; "
                    "check it with `ps -o stat= -p PID` (a process stuck in the kernel) and retry"
                )
        self.pid_file.unlink(missing_ok=True)
        return record

    def _read(self) -> PidRecord | None:
        try:
            text = self.pid_file.read_text().strip()
        except OSError:
            return None
        if text.isdigit():  # the pid-only format of streams.stack, which shares the stack dir
            return PidRecord(int(text), self.identity, None, self.address)
        try:
            fields = json.loads(text)
            return PidRecord(
                pid=int(fields["pid"]),
                identity=str(fields["identity"]),
                start_ticks=None if fields["start_ticks"] is None else int(fields["start_ticks"]),
                address=str(fields["address"]),
            )
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: treated as stale, never signalled

    def _write(self, record: PidRecord) -> None:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a pid file.
        partial = self.pid_file.with_name(self.pid_file.name + ".tmp")
        partial.write_text(json.dumps(asdict(record)) + "\n")
        partial.replace(self.pid_file)


def log_tail(path: Path, lines: int = 3, max_chars: int = 400) -> str:
    """The last non-blank lines of a log, joined into one line for an error message."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 16_384))
            text = log.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    joined = " | ".join(tail) or "(empty log)"
    return joined if len(joined) <= max_chars else "..." + joined[-max_chars:]


def _is_same_process(record: PidRecord) -> bool:
    if _state(record.pid) in {None, "Z"}:
        return False
    if record.identity not in (_cmdline(record.pid) or ""):
        return False
    return record.start_ticks is None or record.start_ticks == _start_ticks(record.pid)


def _cmdline(pid: int) -> str | None:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return None


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may contain spaces)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def _state(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def _start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    # starttime is field 22 of stat; fields[0] is field 3 (state).
    return int(fields[19]) if fields and len(fields) > 19 else None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)  # the server and anything it spawned
        else:
            os.kill(pid, sig)  # not a group leader (older pid file): the server alone


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        if _reap_if_ours(pid) or _state(pid) in {None, "Z"}:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_S)


def _reap_if_ours(pid: int) -> bool:
    child = _children.get(pid)
    if child is None or child.poll() is None:
        return False
    del _children[pid]
    return True
