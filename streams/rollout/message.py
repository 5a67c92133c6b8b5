"""One published rules version: every rule file's name and text, who published it and when."""

from __future__ import annotations

import getpass
import json
import socket
import time
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, ValidationError

from rules.active import ActiveRules
from rules.loader import rules_version
from rules.ruleset import RuleSet

RULES_KEY = b"rules"  # one key: compaction keeps only the latest version


class RulesMessageError(ValueError):
    pass


class RulesMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    files: dict[str, str]
    published_at: float
    publisher: str

    @classmethod
    def of(cls, files: Mapping[str, str]) -> RulesMessage:
        """A message for ``files`` (name -> text), published now by this user on this host."""
        return cls(
            version=rules_version(files),
            files=dict(files),
            published_at=time.time(),
            publisher=f"{getpass.getuser()}@{socket.gethostname()}",
        )

    def encode(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> RulesMessage:
        """Parse a message of the rules topic; RulesMessageError says what is wrong with it.

        >>> RulesMessage.decode(RulesMessage.of({"a.yaml": "segments: []"}).encode()).files
        {'a.yaml': 'segments: []'}
        """
        try:
            return cls.model_validate(json.loads(raw or b""))
        except (ValueError, ValidationError) as exc:
            preview = (raw or b"")[:80]
            raise RulesMessageError(
                f"not a rules message ({exc.__class__.__name__}): {preview!r}"
            ) from exc


def apply_rules_message(active: ActiveRules, raw: bytes | None) -> RuleSet | None:
    """Offer one message of the rules topic to ``active``; the newly active RuleSet, if any."""
    try:
        message = RulesMessage.decode(raw)
    except RulesMessageError as exc:
        active.reject("unreadable", str(exc))
        return None
    return active.offer(message.files)
