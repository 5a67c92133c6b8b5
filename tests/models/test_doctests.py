"""The docstring examples of the models package (and the cluster plumbing) run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "models.features", "models.snapshot", "models.assign", "models.matching", "models.describe",
    "models.names", "models.kmeans", "models.population", "models.learner", "models.trainer",
    "models.segments",
    "streams.clusters.messages",
]  # fmt: skip


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
