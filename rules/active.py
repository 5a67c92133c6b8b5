"""The rules a worker runs: replaced only by a valid, different version; a bad one is reported.

A rules version that does not load (a hand-made message, files that use a feature this worker
does not know yet, even a bug of the loader itself) never replaces running rules: the last good
version keeps deciding membership, and the rejection stays visible (logs, /segstream/stats, metrics)
until a good version arrives. A version without any segment would withdraw every segment from every
customer: it is refused unless it was published on purpose (``allow_empty``).
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
    offset: int | None = None  # where on the rules topic it came from: its publisher matches it


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

    def offer(
        self, files: Mapping[str, str], *, allow_empty: bool = False, offset: int | None = None
    ) -> RuleSet | None:
        """Activate ``files`` if they load and differ from the running version; else None.

        Never raises (bar BaseExceptions such as cancellation): whatever a version holds, the worst
        it can do is be refused. ``offset`` (rules topic) is kept with a refusal.
        """
        version = _version_of(files)
        rules = self._load(files, version, offset)
        if rules is None:
            return None
        if not rules.rules and not allow_empty:
            self.reject(version, NO_SEGMENTS, offset)
            return None
        self.rejected = None  # a valid version supersedes any bad one before it
        if rules.version == self.current.version:
            return None
        self.current, self.activated_at = rules, time.time()
        self.activations += 1
        log.info("rules %s active: %d segments", rules.version, len(rules.rules))
        return rules

    def _load(self, files: Mapping[str, str], version: str, offset: int | None) -> RuleSet | None:
        try:
            return load_rule_texts(files)
        except RuleFileError as exc:
            self.reject(version, str(exc), offset)
        except Exception as exc:  # a loader bug refuses this version, nothing more
            # e.g. RecursionError from a deep in_segment chain: the worker must outlive it, and
            # every restart replays this version from the topic. The traceback (1,000 frames for
            # that one) only at DEBUG: the one-line refusal below is what operators read.
            log.debug("loading rules %s failed", version, exc_info=True)
            self.reject(version, f"the rules could not be loaded: {_one_line(exc)}", offset)
        return None

    def reject(self, version: str, problems: str, offset: int | None = None) -> None:
        self.rejected = Rejection(version, problems, time.time(), offset)
        self.rejections += 1
        log.error(
            "rules %s rejected; %s keeps running:\n%s", version, self.current.version, problems
        )


NO_SEGMENTS = (
    "the version has no segments: applying it would withdraw every segment from every customer;"
    " publish it with --allow-empty if that is the intent"
)


def _version_of(files: Mapping[str, str]) -> str:
    try:
        return rules_version(files)
    except Exception:  # e.g. a text that is not a str: still refused, by this name
        return "unreadable"


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line, cut at ``limit`` characters (a traceback stays in the log)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
