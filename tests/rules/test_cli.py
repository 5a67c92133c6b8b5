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


# No Redis there (port 1): `rules check` then cannot count segment members, and says so.
NO_REDIS = {**os.environ, "SEGSTREAM_REDIS_URL": "redis://127.0.0.1:1/0"}


def check(directory: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "rules", "check", "--dir", str(directory), *flags],
        env=NO_REDIS, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_check_accepts_the_examples() -> None:
    done = check(EXAMPLES)
    assert done.returncode == 0, done.stderr
    assert "12 segments" in done.stdout
    assert "note: segment members not counted: Redis unreachable" in done.stderr


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


def test_check_refuses_a_version_without_segments_unless_allowed(tmp_path: Path) -> None:
    """Issue 17: `rules check` accepted `segments: []`, which withdraws every segment."""
    (tmp_path / "empty.yaml").write_text("segments: []\n")
    done = check(tmp_path)
    assert done.returncode == 2, done.stdout
    assert "the edited rules have no segments" in done.stderr
    assert "give --allow-empty to publish it anyway" in done.stderr
    assert check(tmp_path, "--allow-empty").returncode == 0


def test_check_refuses_files_the_loader_fails_on_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_bytes(b"segments:\n  - id: \xff\n")
    done = check(tmp_path)
    assert done.returncode == 2
    assert f"{tmp_path / 'bad.yaml'}:2:9: byte 0xff is not UTF-8" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_refuses_a_named_pipe_and_a_folder_without_hanging(tmp_path: Path) -> None:
    """Issue 17: a FIFO named x.yaml hung `rules check`; a folder named x.yaml was a traceback."""
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "folder.yaml").mkdir()
    done = check(tmp_path)  # check()'s timeout turns a hang into a failure
    assert done.returncode == 2
    assert f"{tmp_path / 'pipe.yaml'}:1:1: not a regular file (a named pipe" in done.stderr
    assert f"{tmp_path / 'folder.yaml'}:1:1: not a regular file (a folder)" in done.stderr
    assert "Traceback" not in done.stderr
