"""Watch mode publishes each valid save once and reports bad saves with their position."""

from __future__ import annotations

from pathlib import Path

from streams.rollout.watch import watch_rules

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
    assert f"{tmp_path / 'rules.yaml'}:5:16: RShift is not allowed" in reports[1]
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
