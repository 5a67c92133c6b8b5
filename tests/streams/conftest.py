"""Fixtures shared by the tests of streams/."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    """A certificate file that exists: existence is what the connection settings check."""
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return path
