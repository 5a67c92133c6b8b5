"""A versioned set of compiled segment rules, and membership computed from profile features."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import reduce
from typing import Any, Literal

from rules.expression import Compiled, compile_condition
from rules.timing import TimeDependence, analyze
from streams.profile import FEATURES

Variant = Literal["treatment", "control"]

# Product categories affinity['...'] may name unless the rule files declare the shop's own under
# `categories:`: the demo simulator's (streams/traffic/personas.py) and CDNOW's one, music.
DEFAULT_CATEGORIES: tuple[str, ...] = (
    "beauty", "books", "electronics", "fashion", "garden", "grocery", "home", "kids", "music",
    "sports", "toys",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    description: str
    condition: Compiled
    holdout: float = 0.0  # share of members kept in control, 0..0.5
    priority: int = 0
    exclusive_group: str | None = None
    tags: tuple[str, ...] = ()
    owner: str | None = None
    location: str = ""  # file:line of its definition

    def variant(self, customer_id: str) -> Variant:
        """Stable per customer and segment: the same customer stays in control across versions."""
        return holdout_variant(self.id, customer_id, self.holdout)


def holdout_variant(segment_id: str, customer_id: str, holdout: float) -> Variant:
    """Control for a stable ``holdout`` share of a segment's customers (a hash of both ids), so a
    customer stays in control across rule versions and cluster models.

    >>> holdout_variant("vip", "c1", 0.0), holdout_variant("vip", "c1", 1.0)
    ('treatment', 'control')
    """
    if holdout <= 0:
        return "treatment"
    digest = hashlib.blake2b(f"{segment_id}\0{customer_id}".encode(), digest_size=8).digest()
    position = int.from_bytes(digest, "big") / 2**64
    return "control" if position < holdout else "treatment"


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: str
    rules: tuple[Rule, ...]  # in evaluation order: referenced segments first
    categories: tuple[str, ...] = DEFAULT_CATEGORIES  # the ones conditions may name
    timing: TimeDependence = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        parts = (analyze(rule.condition.source) for rule in self.rules)
        object.__setattr__(self, "timing", reduce(TimeDependence.__or__, parts, TimeDependence()))

    def members_of(
        self, features: Mapping[str, Any], given: frozenset[str] = frozenset()
    ) -> frozenset[str]:
        """Ids of the segments whose condition holds; exclusive groups keep their top rule.

        ``given`` are segments decided elsewhere (the customer's machine-learned cluster): rules
        see them through ``in_segment()`` and they are part of the answer.
        """
        members: set[str] = set(given)
        taken_groups: set[str] = set()
        for rule in self.rules:
            if rule.exclusive_group is not None and rule.exclusive_group in taken_groups:
                continue
            if rule.condition.evaluate(features, frozenset(members)):
                members.add(rule.id)
                if rule.exclusive_group is not None:
                    taken_groups.add(rule.exclusive_group)
        return frozenset(members)

    def rule(self, segment_id: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.id == segment_id), None)

    def variant(self, segment_id: str, customer_id: str) -> Variant:
        rule = self.rule(segment_id)
        return "treatment" if rule is None else rule.variant(customer_id)


BUILTIN_RULES = RuleSet(
    version="builtin-1",
    rules=(
        Rule(
            "big_spenders",
            "Big spenders",
            "Customers who spent at least 100 over their lifetime.",
            compile_condition("spend_lifetime >= 100", {f.name: f.type for f in FEATURES}),
        ),
    ),
)
