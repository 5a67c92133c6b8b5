"""Instants and ages as people read them: a UTC date and time, "3 min ago"; never epoch seconds."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_text(epoch_s: float) -> str:
    """``2026-12-06 23:04:11 UTC``."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age_text(seconds: float) -> str:
    """A duration rounded to the unit that reads best: ``0.4 s``, ``42 s``, ``17 min``, ``5.2 h``,
    ``12 d``. Negative ages (clocks apart) read as 0 s."""
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} d"


def when_text(epoch_s: float, now_s: float) -> str:
    """``2026-12-06 23:04:11 UTC (3 min ago)``."""
    return f"{utc_text(epoch_s)} ({age_text(now_s - epoch_s)} ago)"
