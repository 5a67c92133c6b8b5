"""Running rules change only for a valid, different version; a bad one is kept on record."""

from __future__ import annotations

from rules import BUILTIN_RULES
from rules.active import ActiveRules

GOOD = {"r.yaml": "segments: [{id: a, name: A, description: d, condition: 'age > 30'}]"}
BAD = {"r.yaml": "segments: [{id: a, name: A, description: d, condition: 'agee > 30'}]"}


def test_a_valid_new_version_replaces_the_running_one() -> None:
    active = ActiveRules(BUILTIN_RULES)
    activated = active.offer(GOOD)
    assert activated is not None
    assert active() is activated
    assert active.activations == 1
    assert active.offer(GOOD) is None  # the same version again: nothing to do


def test_a_bad_version_keeps_the_last_good_and_is_reported_until_superseded() -> None:
    active = ActiveRules(BUILTIN_RULES)
    good = active.offer(GOOD)
    assert active.offer(BAD) is None
    assert active() is good
    assert active.rejected is not None
    assert "r.yaml:1:57: unknown feature 'agee'; did you mean 'age'?" in active.rejected.problems
    assert active.offer(GOOD) is None  # republishing the good version clears the report
    assert active.rejected is None
    assert active.rejections == 1


def test_a_version_with_wrongly_typed_values_is_rejected_not_raised() -> None:
    """Before the loader checked value types, ``priority: high`` raised ValueError out of
    ``offer``: the worker's rules-following task died, and every restart replayed it."""
    active = ActiveRules(BUILTIN_RULES)
    for bad in ("priority: high", "tags: 5", "holdout: [1]", "owner: 2020-13-45"):
        files = {"r.yaml": GOOD["r.yaml"].replace("}]", f", {bad}}}]")}
        assert active.offer(files) is None, bad
        assert active() is BUILTIN_RULES
        assert active.rejected is not None
    assert active.rejections == 4
