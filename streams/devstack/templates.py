"""Configuration templates shipped in this package (package data: ``*.xml``, ``*.properties``)."""

from __future__ import annotations

from importlib import resources
from string import Template


def render(name: str, **values: str) -> str:
    """The template file ``name`` with its ``${placeholders}`` filled; a missing value raises."""
    text = resources.files(__package__ or __name__).joinpath(name).read_text(encoding="utf-8")
    return Template(text).substitute(values)
