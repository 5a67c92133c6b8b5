"""One published rules version: every rule file's name and text, who published it and when."""

from __future__ import annotations

import getpass
import json
import socket
import time
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from rules.active import ActiveRules
from rules.loader import rules_version
from rules.ruleset import RuleSet

RULES_KEY = b"rules"  # one key: compaction keeps only the latest version
# Kafka's default message limit: a larger message was not sent by `rules publish` and is refused
# unread, so a worker never spends its event loop parsing megabytes of YAML.
MAX_MESSAGE_BYTES = 1024 * 1024


class RulesMessageError(ValueError):
    pass


class RulesMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    files: dict[str, str]
    published_at: float
    publisher: str
    # Published with --allow-empty: a version without segments may withdraw every segment.
    allow_empty: bool = False

    @classmethod
    def of(cls, files: Mapping[str, str], *, allow_empty: bool = False) -> RulesMessage:
        """A message for ``files`` (name -> text), published now by this user on this host."""
        return cls(
            version=rules_version(files),
            files=dict(files),
            published_at=time.time(),
            publisher=f"{getpass.getuser()}@{socket.gethostname()}",
            allow_empty=allow_empty,
        )

    def encode(self) -> bytes:
        # allow_empty only when set: workers of before it refuse a field they do not know, so an
        # ordinary publish stays readable by them during an upgrade.
        return self.model_dump_json(exclude_defaults=True).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> RulesMessage:
        """Parse a message of the rules topic; RulesMessageError says what is wrong with it.

        >>> RulesMessage.decode(RulesMessage.of({"a.yaml": "segments: []"}).encode()).files
        {'a.yaml': 'segments: []'}
        """
        raw = raw or b""
        if len(raw) > MAX_MESSAGE_BYTES:
            raise RulesMessageError(
                f"not a rules message: {len(raw):,} bytes, more than {MAX_MESSAGE_BYTES:,}"
            )
        try:
            return cls.model_validate(json.loads(raw))
        except Exception as exc:  # ValueError, ValidationError, RecursionError (deep JSON) ...
            raise RulesMessageError(
                f"not a rules message ({exc.__class__.__name__}): {raw[:80]!r}"
            ) from exc


def apply_rules_message(
    active: ActiveRules, raw: bytes | None, offset: int | None = None
) -> RuleSet | None:
    """Offer one message of the rules topic to ``active``; the newly active RuleSet, if any.

    Whatever ``raw`` holds, it is at worst refused (kept in ``active.rejected``), never raised:
    a worker replays every message still on the topic each time it starts.
    """
    try:
        message = RulesMessage.decode(raw)
    except RulesMessageError as exc:
        active.reject("unreadable", str(exc), offset)
        return None
    return active.offer(message.files, allow_empty=message.allow_empty, offset=offset)
