"""A versioned set of segment rules, and membership computed from profile features."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Condition = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    description: str
    condition: Condition


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: str
    rules: tuple[Rule, ...]

    def members_of(self, features: Mapping[str, Any]) -> frozenset[str]:
        """Ids of the segments whose condition holds for ``features``."""
        return frozenset(rule.id for rule in self.rules if rule.condition(features))


def _big_spender(features: Mapping[str, Any]) -> bool:
    return bool(features["spend_lifetime"] >= 100)


BUILTIN_RULES = RuleSet(
    version="builtin-1",
    rules=(
        Rule(
            "big_spenders",
            "Big spenders",
            "Customers who spent at least 100 over their lifetime.",
            _big_spender,
        ),
    ),
)
