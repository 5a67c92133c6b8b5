"""Rules messages round-trip, and anything else on the rules topic is refused, not obeyed."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from rules import BUILTIN_RULES
from rules.active import ActiveRules
from rules.loader import rules_version
from rules.ruleset import RuleSet
from streams.rollout.message import (
    MAX_MESSAGE_BYTES,
    RulesMessage,
    RulesMessageError,
    apply_rules_message,
)

FILES = {"r.yaml": "segments: [{id: a, name: A, description: d, condition: 'age > 30'}]"}


def test_round_trip_and_version_is_the_digest_of_the_texts() -> None:
    message = RulesMessage.of(FILES)
    assert RulesMessage.decode(message.encode()) == message
    assert "allow_empty" not in json.loads(message.encode())  # as workers before it expect
    allowed = RulesMessage.of(FILES, allow_empty=True)
    assert RulesMessage.decode(allowed.encode()) == allowed
    assert message.version == rules_version(FILES) == rules_version({"other/name": FILES["r.yaml"]})


@pytest.mark.parametrize(
    "raw", [None, b"", b"[]", b'{"version": "v"}', b'{"files": 3}', b"\xff\xfe", b"{" * 10]
)
def test_garbage_is_a_clear_error(raw: bytes | None) -> None:
    with pytest.raises(RulesMessageError, match="not a rules message"):
        RulesMessage.decode(raw)


def test_applying_garbage_rejects_without_touching_the_running_rules() -> None:
    active = ActiveRules(BUILTIN_RULES)
    assert apply_rules_message(active, b"nonsense") is None
    assert active() is BUILTIN_RULES
    assert active.rejected is not None
    assert active.rejected.version == "unreadable"
    activated = apply_rules_message(active, RulesMessage.of(FILES).encode())
    assert activated is not None
    assert activated.version == rules_version(FILES)


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000, b'{"files": ' * 50_000, b" " * (MAX_MESSAGE_BYTES + 1)],
    ids=["deep-json-array", "deep-json-object", "huge"],
)
def test_deep_or_huge_messages_are_refused_not_raised(raw: bytes) -> None:
    """Deeply nested JSON made json.loads raise RecursionError, which nothing caught."""
    active = ActiveRules(BUILTIN_RULES)
    assert apply_rules_message(active, raw, offset=3) is None
    assert active() is BUILTIN_RULES
    assert active.rejected is not None
    assert active.rejected.offset == 3
    assert active.rejected.problems.startswith("not a rules message")


def test_an_empty_version_applies_only_when_published_with_allow_empty() -> None:
    active = ActiveRules(BUILTIN_RULES)
    hand_made = json.dumps({"version": "v", "files": {}, "published_at": 0, "publisher": "x"})
    assert apply_rules_message(active, hand_made.encode()) is None
    assert active() is BUILTIN_RULES
    assert active.rejected is not None
    assert "no segments" in active.rejected.problems
    emptied = apply_rules_message(active, RulesMessage.of({}, allow_empty=True).encode())
    assert emptied is not None
    assert emptied.rules == ()


def test_a_loader_bug_behind_a_message_is_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_loader(files: Mapping[str, str]) -> RuleSet:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("rules.active.load_rule_texts", broken_loader)
    active = ActiveRules(BUILTIN_RULES)
    assert apply_rules_message(active, RulesMessage.of(FILES).encode(), offset=9) is None
    assert active.rejected is not None
    assert (active.rejected.version, active.rejected.offset) == (rules_version(FILES), 9)
