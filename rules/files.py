"""Reading rule files from disk: text, or a Problem saying why not, never an exception or a hang.

Marketers save rule files from whatever editor they have: Latin-1 ("München"), UTF-16 with a byte
order mark, a folder or a dangling link that happens to be named ``x.yaml``, a named pipe. Each is
a Problem at file:line:col. Only regular files are opened, and without blocking, so a FIFO cannot
hang ``rules check``; a file larger than MAX_BYTES is refused before it is read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from rules.problems import Problem, RuleFileError

MAX_BYTES = 1 << 20  # 1 MiB: hundreds of segments; more is a mistake (or an attack), not rules
SAVE_AS_UTF8 = "save the file as UTF-8"

# Longest first: the UTF-32 little-endian mark begins with the UTF-16 little-endian one.
BYTE_ORDER_MARKS = (
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    (b"\xff\xfe", "UTF-16 (little-endian)"),
    (b"\xfe\xff", "UTF-16 (big-endian)"),
)

NOT_REGULAR = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def read_rule_texts(paths: Iterable[Path]) -> dict[str, str]:
    """File name -> text for every path; RuleFileError listing every file that cannot be read."""
    texts, problems = read_readable(paths)
    if problems:
        raise RuleFileError(problems)
    return texts


def read_readable(paths: Iterable[Path]) -> tuple[dict[str, str], list[Problem]]:
    """File name -> text of the files that can be read, and a Problem for each of the others."""
    texts: dict[str, str] = {}
    problems: list[Problem] = []
    for path in paths:
        read = read_rule_file(path)
        if isinstance(read, Problem):
            problems.append(read)
        else:
            texts[str(path)] = read
    return texts, problems


def read_rule_file(path: Path) -> str | Problem:
    """The text of one rule file, or the Problem that keeps it from being read."""
    name = str(path)
    try:
        status = path.stat()
    except OSError as exc:
        return Problem(name, 1, 1, _unreachable(path, exc))
    refusal = _refusal(status)
    if refusal:
        return Problem(name, 1, 1, refusal)
    try:
        data = _read_regular_file(path)
    except OSError as exc:
        return Problem(name, 1, 1, f"cannot read it: {exc.strerror or exc}")
    except _NotRegularError as exc:  # replaced by something else since the check above
        return Problem(name, 1, 1, str(exc))
    return decode_rule_bytes(name, data)


def decode_rule_bytes(name: str, data: bytes) -> str | Problem:
    """UTF-8 text; or where the first byte that is not UTF-8 is, and what to do about it."""
    for mark, encoding in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            return Problem(name, 1, 1, f"the file is {encoding}; {SAVE_AS_UTF8}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _bad_byte(name, data, exc.start)
    nul = text.find("\0")
    if nul >= 0:
        line, column = _line_column(text, nul)
        message = (
            "a NUL character: the file looks like UTF-16 or UTF-32 without a byte order mark,"
            f" or is not text; {SAVE_AS_UTF8}"
        )
        return Problem(name, line, column, message, _display(text.splitlines()[line - 1]))
    return text


class _NotRegularError(Exception):
    pass


def _unreachable(path: Path, error: OSError) -> str:
    if path.is_symlink():
        try:
            target = f" to {os.readlink(path)!r}"
        except OSError:
            target = ""
        return f"not a regular file (a broken link{target})"
    return f"cannot read it: {error.strerror or error}"


def _refusal(status: os.stat_result) -> str | None:
    if not stat.S_ISREG(status.st_mode):
        kind = next((kind for test, kind in NOT_REGULAR if test(status.st_mode)), "not a file")
        return f"not a regular file ({kind}); rule files are plain .yaml files"
    if status.st_size > MAX_BYTES:
        return f"the file holds {status.st_size:,} bytes; rule files may hold at most 1 MiB"
    return None


def _read_regular_file(path: Path) -> bytes:
    # O_NONBLOCK: if a FIFO took the file's place since stat(), open() must not wait for a writer.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    descriptor = os.open(path, flags)
    try:
        refusal = _refusal(os.fstat(descriptor))
        if refusal:
            raise _NotRegularError(refusal)
        chunks, size = [], 0
        while size <= MAX_BYTES:  # the file may have grown since fstat()
            chunk = os.read(descriptor, MAX_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(descriptor)
    if size > MAX_BYTES:
        raise _NotRegularError("the file holds more than 1 MiB; rule files may hold at most 1 MiB")
    return b"".join(chunks)


def _bad_byte(name: str, data: bytes, index: int) -> Problem:
    line_start = data.rfind(b"\n", 0, index) + 1
    line_end = data.find(b"\n", index)
    line = data.count(b"\n", 0, index) + 1
    column = len(data[line_start:index].decode("utf-8")) + 1  # valid UTF-8 up to the bad byte
    source = data[line_start : line_end if line_end >= 0 else len(data)]
    message = (
        f"byte 0x{data[index]:02x} is not UTF-8 (Latin-1 or Windows-1252 text, e.g. 'ü'?);"
        f" {SAVE_AS_UTF8}"
    )
    return Problem(name, line, column, message, _display(source.decode("utf-8", "replace")))


def _line_column(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _display(line: str) -> str:
    return line.rstrip("\r").replace("\0", "\\0")
