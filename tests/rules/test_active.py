"""Running rules change only for a valid, different version; a bad one is kept on record."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from rules import BUILTIN_RULES
from rules.active import ActiveRules
from rules.ruleset import RuleSet
from tests.rules.chains import chain_file

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


def test_a_loader_bug_is_a_refusal_and_the_last_good_rules_keep_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 17: a RecursionError out of the loader went through ``offer`` and stopped the worker,
    and every restart replayed it from the rules topic."""
    active = ActiveRules(BUILTIN_RULES)
    good = active.offer(GOOD)

    def broken_loader(files: Mapping[str, str]) -> RuleSet:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("rules.active.load_rule_texts", broken_loader)
    assert active.offer({"other.yaml": "segments: []"}) is None
    assert active() is good
    assert active.rejected is not None
    assert active.rejected.problems == (
        "the rules could not be loaded: RecursionError: maximum recursion depth exceeded"
    )
    assert active.rejections == 1
    monkeypatch.undo()
    assert active.offer(GOOD) is None  # the good version again clears the report
    assert active.rejected is None


def test_a_1500_deep_in_segment_chain_never_raises_out_of_offer() -> None:
    active = ActiveRules(BUILTIN_RULES)
    assert active.offer({"chain.yaml": chain_file(1500)}) is None  # refused, not raised
    assert active.rejected is not None
    assert "chain 33 deep" in active.rejected.problems
    assert active().version == BUILTIN_RULES.version


@pytest.mark.parametrize("files", [{}, {"r.yaml": "segments: []"}], ids=["no-files", "no-segments"])
def test_a_version_without_segments_is_refused_unless_allowed(files: dict[str, str]) -> None:
    """Issue 17: ``"files": {}`` or ``segments: []`` was applied and withdrew every segment."""
    active = ActiveRules(BUILTIN_RULES)
    good = active.offer(GOOD)
    assert active.offer(files, offset=7) is None
    assert active() is good
    assert active.rejected is not None
    assert active.rejected.offset == 7
    assert "no segments" in active.rejected.problems
    assert "--allow-empty" in active.rejected.problems
    emptied = active.offer(files, allow_empty=True)
    assert emptied is not None
    assert emptied.rules == ()
    assert active.rejected is None
