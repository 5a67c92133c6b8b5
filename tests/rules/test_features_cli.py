"""`segstream features` lists the categories conditions may name, next to the features."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "rules" / "segments"


def categories_line(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    assert main(["features"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("is_anonymous")
    heading = next(n for n, line in enumerate(lines) if line.startswith("categories for"))
    return lines[heading], lines[heading + 1].strip()


def test_features_lists_the_default_categories(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SEGSTREAM_RULES_DIR", raising=False)
    heading, names = categories_line(capsys)
    assert "default; rule files may declare their own" in heading
    assert names.startswith("beauty, books, electronics, fashion,")


def test_features_lists_the_categories_the_rule_files_declare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "shop.yaml").write_text("categories: [vinyl, Tapes]\nsegments: []\n")
    monkeypatch.setenv("SEGSTREAM_RULES_DIR", str(tmp_path))
    heading, names = categories_line(capsys)
    assert heading.endswith(f"(from {tmp_path}):")
    assert names == "tapes, vinyl"
    (tmp_path / "shop.yaml").write_text("categories: [vinyl\n")
    heading, names = categories_line(capsys)
    assert "do not load" in heading
    assert "fashion" in names
