"""`segstream rules check` for marketers: OK with a summary, or every problem with a caret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rules import BUILTIN_RULES
from streams.errors import SegstreamError
from streams.settings import Settings
from streams.worker import load_configured_rules

EXAMPLES = Path(__file__).resolve().parents[2] / "rules" / "segments"


def check(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "rules", "check", "--dir", str(directory)],
        env=os.environ, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_check_accepts_the_examples() -> None:
    done = check(EXAMPLES)
    assert done.returncode == 0, done.stderr
    assert "12 segments" in done.stdout


def test_check_rejects_with_position_and_caret(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "segments:\n  - id: x\n    name: X\n    description: d\n    condition: age >> 2\n"
    )
    done = check(tmp_path)
    assert done.returncode == 2
    assert f"{tmp_path / 'bad.yaml'}:5:16:" in done.stderr
    assert "               ^" in done.stderr


def test_worker_rules_come_from_the_directory_or_the_builtin(tmp_path: Path) -> None:
    assert load_configured_rules(Settings()) is BUILTIN_RULES
    assert len(load_configured_rules(Settings(rules_dir=EXAMPLES)).rules) == 12
    with pytest.raises(SegstreamError):
        load_configured_rules(Settings(rules_dir=tmp_path))  # no files
