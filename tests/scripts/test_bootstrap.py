"""scripts/bootstrap.sh says what it installs, how long that takes, and that it is still at it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Stands in for .venv/bin/python: every pip install takes that long, succeeds, notes its arguments.
FAKE_PIP = '#!/bin/sh\necho "$@" >> "$(dirname "$0")/calls"\nsleep {seconds}\n'


def checkout(tmp_path: Path, *, lock: bool = True, pip_seconds: int = 0) -> Path:
    """A checkout with bootstrap.sh, pyproject.toml, the lock and a fake .venv; its python's log."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap.sh", tmp_path / "scripts")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    if lock:
        (tmp_path / "requirements.lock").write_text("x==1 \\\n    --hash=sha256:00\n")
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(FAKE_PIP.format(seconds=pip_seconds))
    fake.chmod(0o755)
    return fake.parent / "calls"


def bootstrap(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": sys.executable, "SEGSTREAM_PROGRESS_EVERY_S": "1"}
    return subprocess.run(
        ["bash", "-c", "source scripts/bootstrap.sh"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_first_install_shows_its_steps_and_progress_while_pip_is_quiet(tmp_path: Path) -> None:
    checkout(tmp_path, pip_seconds=3)
    done = bootstrap(tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "about 1-2 minutes" in out
    assert "[1/2] installing the packages requirements.lock pins" in out
    assert "[2/2] installing segstream itself" in out
    # Each fake step lasts 3 s and a line is due every second: a slower machine gives more lines.
    assert "... still installing packages" in out
    assert "==> installed in" in out
    assert list(tmp_path.glob(".venv/.installed-*"))


def test_packages_come_from_the_lock_with_hashes_and_segstream_without_dependencies(
    tmp_path: Path,
) -> None:
    calls = checkout(tmp_path)
    assert bootstrap(tmp_path).returncode == 0
    assert calls.read_text().splitlines() == [
        "-m pip install --quiet --require-hashes -r requirements.lock",
        "-m pip install --quiet --no-deps --no-build-isolation -e .",
    ]


def test_a_changed_lock_installs_again_and_an_unchanged_one_does_not(tmp_path: Path) -> None:
    calls = checkout(tmp_path)
    assert bootstrap(tmp_path).returncode == 0
    assert bootstrap(tmp_path).returncode == 0
    assert len(calls.read_text().splitlines()) == 2
    with (tmp_path / "requirements.lock").open("a") as lock:
        lock.write("y==2 \\\n    --hash=sha256:11\n")
    assert bootstrap(tmp_path).returncode == 0
    assert len(calls.read_text().splitlines()) == 4


def test_without_a_lock_it_says_how_to_make_one_and_installs_nothing(tmp_path: Path) -> None:
    calls = checkout(tmp_path, lock=False)
    done = bootstrap(tmp_path)
    assert done.returncode == 2
    assert "scripts/lock.sh" in done.stderr
    assert not calls.exists()
