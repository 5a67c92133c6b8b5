"""scripts/bootstrap.sh says what it installs, how long that takes, and that it is still at it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Stands in for .venv/bin/python: every pip install takes 3 s and succeeds.
SLOW_PIP = "#!/bin/sh\nsleep 3\n"


def test_a_first_install_shows_its_steps_and_progress_while_pip_is_quiet(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap.sh", tmp_path / "scripts")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(SLOW_PIP)
    fake.chmod(0o755)
    env = {**os.environ, "PYTHON": sys.executable, "SEGSTREAM_PROGRESS_EVERY_S": "1"}
    done = subprocess.run(
        ["bash", "-c", "source scripts/bootstrap.sh"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "about 1-2 minutes" in out
    assert "[1/2] upgrading pip" in out
    assert "[2/2] installing" in out
    # Each fake step lasts 3 s and a line is due every second: a slower machine gives more lines.
    assert "... still installing packages" in out
    assert "==> installed in" in out
    assert list(tmp_path.glob(".venv/.installed-*"))
