"""Why is a customer in or out of a segment: each sub-condition's value and the features read."""

from __future__ import annotations

import ast
import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rules.expression import _build, _guarded
from rules.ruleset import Rule, RuleSet


@dataclass(frozen=True, slots=True)
class Part:
    text: str  # the sub-condition as the marketer wrote it
    value: Any  # what it evaluated to (True/False, or a number for an arithmetic part)


@dataclass(frozen=True, slots=True)
class Verdict:
    segment_id: str
    member: bool
    variant: str
    parts: tuple[Part, ...]
    features: dict[str, Any]  # every feature the condition reads, with its value


def explain(
    rules: RuleSet,
    features: Mapping[str, Any],
    customer_id: str,
    given: frozenset[str] = frozenset(),
) -> list[Verdict]:
    """One verdict per rule, evaluated in rule order so in_segment() sees earlier verdicts
    and the ``given`` segments (the customer's cluster)."""
    members: set[str] = set(given)
    verdicts = []
    for rule in rules.rules:
        member = rule.condition.evaluate(features, frozenset(members))
        if member:
            members.add(rule.id)
        parts = tuple(_parts(rule, features, frozenset(members)))
        read = {name: _plain(features[name]) for name in sorted(rule.condition.features)}
        variant = rule.variant(customer_id) if member else ""
        verdicts.append(Verdict(rule.id, member, variant, parts, read))
    return verdicts


def _parts(rule: Rule, features: Mapping[str, Any], members: frozenset[str]) -> list[Part]:
    source = rule.condition.source.strip()
    tree = ast.parse(source, mode="eval")
    out = []
    for node in ast.walk(tree.body):
        if isinstance(node, ast.Compare | ast.Call | ast.BoolOp | ast.UnaryOp):
            text = ast.get_source_segment(source, node) or ""
            # _build rewrites the tree it is given; the walk needs the original.
            function = _guarded(_build(ast.Expression(copy.deepcopy(node))))
            out.append(Part(" ".join(text.split()), function(features, members)))
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def format_verdicts(customer_id: str, verdicts: list[Verdict]) -> str:
    lines = [f"customer {customer_id}"]
    for verdict in verdicts:
        state = f"IN ({verdict.variant})" if verdict.member else "out"
        lines.append(f"  {verdict.segment_id:<28} {state}")
        for part in verdict.parts:
            lines.append(f"      {part.value!s:<6} {part.text}")
        read = ", ".join(f"{name}={value!r}" for name, value in verdict.features.items())
        if read:
            lines.append(f"      reads: {read}")
    return "\n".join(lines)


def format_merged(alias_id: str, customer_id: str, published: list[str]) -> str:
    """What ``segstream explain`` says of a visitor merged into a customer: its profile is frozen
    at the merge and its own segments were withdrawn, so its verdicts would mislead; the
    customer's explanation follows."""
    held = ", ".join(published) if published else "none"
    return (
        f"{alias_id} was merged into customer {customer_id}: it has no segments of its own "
        f"(published for it: {held}); front ends reading {alias_id} get {customer_id}'s. "
        f"Explaining {customer_id}:"
    )
