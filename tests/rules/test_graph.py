"""in_segment() chains: any length is refused or accepted without recursion, at file:line:col."""

from __future__ import annotations

import pytest

from rules.graph import MAX_DEPTH, dependency_order, find_cycle, too_deep
from rules.loader import RuleFileError, load_rule_texts
from tests.rules.chains import chain_file


def refusal(text: str) -> RuleFileError:
    with pytest.raises(RuleFileError) as error:
        load_rule_texts({"chain.yaml": text})
    return error.value


@pytest.mark.parametrize("length", [1_500, 3_000])
@pytest.mark.parametrize("head_first", [True, False], ids=["head-first", "head-last"])
def test_a_very_deep_chain_is_refused_at_file_line_col(length: int, head_first: bool) -> None:
    text = chain_file(length, head_first)
    [problem] = refusal(text).problems
    # The segment 33 references from the chain's end: the first to be too deep.
    line = length - MAX_DEPTH  # the last segment (line length + 1) is 0 deep
    column = text.splitlines()[line - 1].index('"') + 1  # its condition
    assert (problem.path, problem.line, problem.column) == ("chain.yaml", line, column)
    assert f"chain {MAX_DEPTH + 1} deep" in problem.message
    assert f"at most {MAX_DEPTH} deep" in problem.message


@pytest.mark.parametrize("head_first", [True, False], ids=["head-first", "head-last"])
def test_a_chain_32_deep_loads_and_33_deep_is_refused(head_first: bool) -> None:
    rules = load_rule_texts({"chain.yaml": chain_file(MAX_DEPTH + 1, head_first)})
    order = [rule.id for rule in rules.rules]
    assert order == sorted(order, reverse=head_first)  # each after the segment it refers to
    assert rules.members_of({"age": 2}) == {rule.id for rule in rules.rules}
    [problem] = refusal(chain_file(MAX_DEPTH + 2, head_first)).problems
    assert "chain 33 deep" in problem.message


def test_a_cycle_through_3000_segments_is_refused_without_recursion() -> None:
    text = chain_file(3_000).replace("age > 1", "in_segment('s0000')")
    messages = [problem.message for problem in refusal(text).problems]
    assert any("in a cycle of 3000 segments: s0000 -> s0001 ->" in m for m in messages), messages


def test_graph_walks_on_their_own() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}
    assert find_cycle(graph) == []
    assert find_cycle({**graph, "c": {"d"}}) == ["a", "b", "c", "d"]
    assert dependency_order(["d", "c", "b", "a"], graph) == ["c", "b", "a", "d"]
    assert too_deep(graph) == []
    deep = {f"n{i:02d}": {f"n{i + 1:02d}"} for i in range(40)}
    assert too_deep(deep) == [[f"n{i:02d}" for i in range(7, 41)]]
