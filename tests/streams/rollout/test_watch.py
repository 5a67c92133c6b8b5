"""Watch mode publishes each valid save once and reports bad saves with their position."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from rules.loader import load_rule_texts
from rules.ruleset import RuleSet
from streams.rollout.watch import RulesRefused, watch_rules

RULE = "segments:\n  - id: a\n    name: A\n    description: d\n    condition: {}\n"


def run_watch(directory: Path, saves: list[str | None]) -> tuple[list[dict[str, str]], list[str]]:
    """Each tick applies the next save (None: leave the file alone), then the watcher looks."""
    published: list[dict[str, str]] = []
    reports: list[str] = []
    pending = list(saves)

    def keep_going() -> bool:
        if not pending:
            return False
        save = pending.pop(0)
        if save is not None:
            (directory / "rules.yaml").write_text(RULE.format(save))
        return True

    def publish(files: dict[str, str]) -> str:
        published.append(files)
        return f"v{len(published)}"

    watch_rules(directory, publish, reports.append, interval_s=0, keep_going=keep_going)
    return published, reports


def test_valid_saves_publish_once_each_and_bad_saves_not_at_all(tmp_path: Path) -> None:
    published, reports = run_watch(
        tmp_path, ["age > 1", None, "age >> 1", None, "age > 2", "age > 2"]
    )
    assert [files["rules.yaml"].splitlines()[-1] for files in published] == [
        "    condition: age > 1",
        "    condition: age > 2",
    ]
    assert reports[0] == "published v1 (1 file(s))"
    assert f"{tmp_path / 'rules.yaml'}:5:16: " in reports[1]  # the loader words the problem
    assert "is not allowed" in reports[1]
    assert reports[1].endswith("not published: the workers keep the running rules")
    assert reports[2] == "published v2 (1 file(s))"
    assert len(reports) == 3


def test_an_empty_directory_publishes_nothing(tmp_path: Path) -> None:
    published: list[dict[str, str]] = []
    reports: list[str] = []
    ticks = iter([True, False])

    def publish(files: dict[str, str]) -> str:
        published.append(files)
        return "v"

    watch_rules(tmp_path, publish, reports.append, interval_s=0, keep_going=lambda: next(ticks))
    assert published == []
    assert reports == [f"no *.yaml rule files in {tmp_path}; nothing published"]


def test_no_save_and_no_failure_ends_the_watch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: `rules watch` exited on a bad file (bytes that are not UTF-8, a loader bug); it
    reports each, keeps the last good version published, and publishes the next good save."""
    rules = tmp_path / "rules.yaml"
    published: list[str] = []
    reports: list[str] = []
    broken: dict[str, bool | str] = {"loader": False, "publish": ""}

    def loader(texts: Mapping[str, str]) -> RuleSet:
        if broken["loader"]:
            raise RecursionError("maximum recursion depth exceeded")
        return load_rule_texts(texts)

    def publish(files: dict[str, str]) -> str:
        if broken["publish"] == "refused":
            raise RulesRefused("the edited rules remove 1 segment(s) that have members")
        if broken["publish"] == "kafka":
            raise OSError("Kafka unreachable")
        published.append(files["rules.yaml"])
        return f"v{len(published)}"

    # Each save: whether the loader fails, how publishing fails (or ""), the file's bytes.
    saves = [
        (False, "", RULE.format("age > 1").encode()),
        (False, "", b"segments:\n  - id: \xff\xfe\n"),
        (True, "", RULE.format("age > 2").encode()),
        (False, "refused", RULE.format("age > 3").encode()),
        (False, "kafka", RULE.format("age > 4").encode()),
        (False, "", RULE.format("age > 5").encode()),
    ]

    def keep_going() -> bool:
        if not saves:
            return False
        loader_fails, publish_fails, data = saves.pop(0)
        broken.update(loader=loader_fails, publish=publish_fails)
        rules.write_bytes(data)
        return True

    monkeypatch.setattr("streams.rollout.watch.load_rule_texts", loader)
    watch_rules(tmp_path, publish, reports.append, interval_s=0, keep_going=keep_going)
    assert [text.splitlines()[-1] for text in published] == [
        "    condition: age > 1",
        "    condition: age > 5",
    ]
    assert len(reports) == 6
    assert f"{rules}:2:9: byte 0xff is not UTF-8" in reports[1]
    assert "the rules could not be loaded: RecursionError" in reports[2]
    assert "remove 1 segment(s) that have members" in reports[3]
    assert "OSError: Kafka unreachable" in reports[4]
    for report in reports[1:5]:
        assert "not published: the workers keep the running rules" in report
    assert reports[5] == "published v2 (1 file(s))"


def test_a_named_pipe_or_a_folder_is_reported_and_the_watch_goes_on(tmp_path: Path) -> None:
    """Issue 17: a FIFO named like a rule file hung the watch (it was opened and read)."""
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "folder.yaml").mkdir()
    reports: list[str] = []
    ticks = iter([True])
    watch_rules(tmp_path, lambda files: "v1", reports.append, interval_s=0,
                keep_going=lambda: next(ticks, False))  # fmt: skip
    assert len(reports) == 1
    assert f"{tmp_path / 'pipe.yaml'}:1:1: not a regular file (a named pipe" in reports[0]
    assert f"{tmp_path / 'folder.yaml'}:1:1: not a regular file (a folder)" in reports[0]
    assert "not published: the workers keep the running rules" in reports[0]
