"""Argument types for the CLI: a bad number is argparse's usage error (exit code 2), not a crash
somewhere inside the command."""

from __future__ import annotations

import argparse
import math


def _number(text: str, kind: type[int] | type[float]) -> float:
    try:
        value = kind(text)
    except ValueError as exc:
        whole = "whole " if kind is int else ""
        raise argparse.ArgumentTypeError(f"{text!r} is not a {whole}number") from exc
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def at_least_one(text: str) -> int:
    """A whole number >= 1 (a count of customers, samples...)."""
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative(text: str) -> float:
    """A number >= 0 (a rate where 0 means unlimited, an interval where 0 means once)."""
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive(text: str) -> float:
    """A number > 0 (a duration, a timeout)."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def port_number(text: str) -> int:
    """A TCP port to listen on, 1 to 65535."""
    value = int(_number(text, int))
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535, got {value}")
    return value


def port_or_any(text: str) -> int:
    """A TCP port, or 0 for any free one."""
    return 0 if text.strip() == "0" else port_number(text)
