"""Marketer-written segment rules: parsing, validation, compilation and evaluation."""

from rules.ruleset import BUILTIN_RULES, Rule, RuleSet

__all__ = ["BUILTIN_RULES", "Rule", "RuleSet"]
