"""A version without segments, or one removing segments with members, needs an explicit flag."""

from __future__ import annotations

from rules.loader import load_rule_texts
from rules.ruleset import RuleSet
from streams.rollout.guard import Leaving, leaving, refusal

EDITED = load_rule_texts(
    {"r.yaml": "segments: [{id: big, name: B, description: d, condition: 'age > 1'}]"}
)
EMPTY = load_rule_texts({"r.yaml": "segments: []"})
SIZES = {"big": 40, "vip": 334, "lapsed": 0, "cluster_0": 90}


def test_removed_segments_with_members_are_named_with_how_many_would_leave() -> None:
    gone = leaving(EDITED, SIZES)
    assert gone == [Leaving("vip", 334)]  # kept, empty and cluster segments are not counted
    text = refusal(EDITED, gone, allow_empty=False, allow_removal=False)
    assert text is not None
    assert text.splitlines() == [
        "the edited rules remove 1 segment(s) that have members",
        "  vip                                334 customers would leave",
        "give --allow-removal to publish it anyway",
    ]
    assert refusal(EDITED, gone, allow_empty=False, allow_removal=True) is None
    assert refusal(EDITED, [], allow_empty=False, allow_removal=False) is None


def test_a_version_without_segments_is_refused_even_when_nobody_is_in_a_segment() -> None:
    """Issue 17: `rules check` accepted `segments: []`, and workers applied it."""
    for gone in ([], leaving(EMPTY, SIZES)):
        text = refusal(EMPTY, gone, allow_empty=False, allow_removal=True)
        assert text is not None
        assert text.startswith("the edited rules have no segments")
        assert text.endswith("give --allow-empty to publish it anyway")
    assert "big" in (refusal(EMPTY, leaving(EMPTY, SIZES), allow_empty=False, allow_removal=False)
                     or "")  # fmt: skip
    assert refusal(EMPTY, leaving(EMPTY, SIZES), allow_empty=True, allow_removal=False) is None
    assert refusal(RuleSet("v", ()), [], allow_empty=True, allow_removal=False) is None
