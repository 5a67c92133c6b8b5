"""Rules messages round-trip, and anything else on the rules topic is refused, not obeyed."""

from __future__ import annotations

import pytest

from rules import BUILTIN_RULES
from rules.active import ActiveRules
from rules.loader import rules_version
from streams.rollout.message import RulesMessage, RulesMessageError, apply_rules_message

FILES = {"r.yaml": "segments: [{id: a, name: A, description: d, condition: 'age > 30'}]"}


def test_round_trip_and_version_is_the_digest_of_the_texts() -> None:
    message = RulesMessage.of(FILES)
    assert RulesMessage.decode(message.encode()) == message
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
