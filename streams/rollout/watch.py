"""Watch mode for local work: publish the rule files each time a save leaves them valid."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rules.files import read_rule_file
from rules.loader import RuleFileError, load_rule_texts, rule_files
from rules.problems import Problem
from rules.ruleset import RuleSet

# Publishes ``files``; returns the version. Raises RulesRefused for a version it must not publish.
Publish = Callable[[dict[str, str]], str]


class RulesRefused(Exception):
    """Valid rule files that are not published as they stand (e.g. they would empty segments)."""


def read_rule_files(directory: Path) -> dict[str, str]:
    """Rule files of ``directory`` by file name (what the rules topic carries)."""
    return {name: text for name, (text, _) in _read(directory).items()}


def check_rule_files(directory: Path) -> tuple[dict[str, str], str | None]:
    """The files and, when they do not load, every problem at path:line:col."""
    files, _, problems = load_rule_folder(directory)
    return files, problems


def load_rule_folder(directory: Path) -> tuple[dict[str, str], RuleSet | None, str | None]:
    """The files by name, their rules, and (rules None) why they do not load.

    Whatever the files hold, the answer is a problem, never an exception: bytes that are not UTF-8,
    a bug of the loader (its message, not its traceback). OSError (unreadable) is raised.
    """
    read = _read(directory)
    files = {name: text for name, (text, _) in read.items()}
    undecodable = [problem for _, problem in read.values() if problem]
    if undecodable:
        return files, None, "\n".join(undecodable)
    texts = {str(directory / name): text for name, text in files.items()}
    try:
        return files, load_rule_texts(texts), None
    except RuleFileError as exc:
        return files, None, str(exc)
    except Exception as exc:  # a loader bug (e.g. RecursionError): these files are not published
        return files, None, f"the rules could not be loaded: {type(exc).__name__}: {exc}"[:500]


def _read(directory: Path) -> dict[str, tuple[str, str | None]]:
    """name -> (text, problem). A file that cannot be read as rule text (not UTF-8, a folder, a
    dangling link, a named pipe, too large) stands for its problem, so a change to it is seen."""
    out: dict[str, tuple[str, str | None]] = {}
    for path in rule_files(directory):
        read = read_rule_file(path)
        out[path.name] = (str(read), str(read)) if isinstance(read, Problem) else (read, None)
    return out


def watch_rules(
    directory: Path,
    publish: Publish,
    report: Callable[[str], None],
    *,
    interval_s: float = 0.5,
    keep_going: Callable[[], bool] = lambda: True,
) -> None:
    """Check the files every ``interval_s``; on a change publish them if valid, else report why.

    ``publish`` returns the version it published. A bad save publishes nothing: the workers keep
    the last good version and the problems are reported at path:line:col. Nothing a save holds
    and no failure to publish ends the watch: each is reported, and the next save is looked at.
    """
    last: dict[str, str] | None = None
    while keep_going():
        try:
            files, problems = check_rule_files(directory)
        except OSError as exc:  # a file mid-save or removed: look again on the next tick
            report(f"cannot read {directory}: {exc}")
            files, problems = last or {}, None
        if files != last:
            last = files
            report(_publish_or_why_not(directory, files, problems, publish))
        time.sleep(interval_s)


def _publish_or_why_not(
    directory: Path, files: dict[str, str], problems: str | None, publish: Publish
) -> str:
    kept = "not published: the workers keep the running rules"
    if not files:
        return f"no *.yaml rule files in {directory}; nothing published"
    if problems:
        return f"{problems}\n{kept}"
    try:
        return f"published {publish(files)} ({len(files)} file(s))"
    except RulesRefused as exc:
        return f"{exc}\n{kept}"
    except Exception as exc:  # Kafka or Redis away, ...: the next save tries again
        return f"{kept} ({type(exc).__name__}: {exc}); the next save tries again"
