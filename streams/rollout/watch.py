"""Watch mode for local work: publish the rule files each time a save leaves them valid."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rules.loader import RuleFileError, load_rule_texts, rule_files


def read_rule_files(directory: Path) -> dict[str, str]:
    """Rule files of ``directory`` by file name (what the rules topic carries)."""
    return {path.name: path.read_text() for path in rule_files(directory)}


def check_rule_files(directory: Path) -> tuple[dict[str, str], str | None]:
    """The files and, when they do not load, every problem at path:line:col."""
    texts = {str(path): path.read_text() for path in rule_files(directory)}
    try:
        load_rule_texts(texts)
    except RuleFileError as exc:
        return read_rule_files(directory), str(exc)
    return read_rule_files(directory), None


def watch_rules(
    directory: Path,
    publish: Callable[[dict[str, str]], str],
    report: Callable[[str], None],
    *,
    interval_s: float = 0.5,
    keep_going: Callable[[], bool] = lambda: True,
) -> None:
    """Check the files every ``interval_s``; on a change publish them if valid, else report why.

    ``publish`` returns the version it published. A bad save publishes nothing: the workers keep
    the last good version and the problems are reported at path:line:col.
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
            if not files:
                report(f"no *.yaml rule files in {directory}; nothing published")
            elif problems:
                report(f"{problems}\nnot published: the workers keep the running rules")
            else:
                report(f"published {publish(files)} ({len(files)} file(s))")
        time.sleep(interval_s)
