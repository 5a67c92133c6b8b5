"""The rules a worker runs: replaced only by a valid, different version; a bad one is reported.

A rules version that does not load (a hand-made message, or files that use a feature this worker
does not know yet) never replaces running rules: the last good version keeps deciding membership,
and the rejection stays visible (logs, /segstream/stats, metrics) until a good version arrives.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from rules.loader import RuleFileError, load_rule_texts, rules_version
from rules.ruleset import RuleSet

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rejection:
    version: str
    problems: str
    at: float


class ActiveRules:
    """Callable holder of the current RuleSet.

    >>> active = ActiveRules(RuleSet("v0", ()))
    >>> active.offer({"a.yaml": "segments: [oops"}) is None, active().version
    (True, 'v0')
    >>> active.rejected.problems.splitlines()[0]
    "a.yaml:1:16: YAML: expected ',' or ']', but got '<stream end>'"
    """

    def __init__(self, initial: RuleSet) -> None:
        self.current = initial
        self.activated_at = time.time()
        self.rejected: Rejection | None = None
        self.activations = 0
        self.rejections = 0

    def __call__(self) -> RuleSet:
        return self.current

    def offer(self, files: Mapping[str, str]) -> RuleSet | None:
        """Activate ``files`` if they load and differ from the running version; else None."""
        try:
            rules = load_rule_texts(files)
        except RuleFileError as exc:
            self.reject(rules_version(files), str(exc))
            return None
        self.rejected = None  # a valid version supersedes any bad one before it
        if rules.version == self.current.version:
            return None
        self.current, self.activated_at = rules, time.time()
        self.activations += 1
        log.info("rules %s active: %d segments", rules.version, len(rules.rules))
        return rules

    def reject(self, version: str, problems: str) -> None:
        self.rejected = Rejection(version, problems, time.time())
        self.rejections += 1
        log.error(
            "rules %s rejected; %s keeps running:\n%s", version, self.current.version, problems
        )
