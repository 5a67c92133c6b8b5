"""Bytes from Kafka to a validated event, or a precise reason why not."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError

from streams.events.fast import plain_decoder
from streams.events.schemas import EVENT_TYPES, Event

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
_decode_plain = plain_decoder(_EVENT_ADAPTER)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an event cannot be processed: ``field`` is a dotted path, or '' for the whole event."""

    kind: str  # too_large | bad_json | unknown_type | invalid
    field: str
    message: str

    def __str__(self) -> str:
        where = f" at {self.field}" if self.field else ""
        return f"{self.kind}{where}: {self.message}"


class EventRejected(ValueError):
    def __init__(self, rejection: Rejection) -> None:
        super().__init__(str(rejection))
        self.rejection = rejection


def decode_event(raw: bytes | None, *, max_bytes: int) -> Event:
    """Parse and validate one event; raise :class:`EventRejected` with the reason otherwise."""
    if raw is None:
        raise EventRejected(Rejection("bad_json", "", "empty message (tombstone)"))
    if len(raw) > max_bytes:
        message = f"{len(raw)} bytes is over the {max_bytes}-byte limit"
        raise EventRejected(Rejection("too_large", "", message))
    event = _decode_plain(raw)  # most events, at a fraction of the full validation's cost
    if event is not None:
        return event
    try:
        return _EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise EventRejected(_rejection_from(exc)) from exc


def _rejection_from(exc: ValidationError) -> Rejection:
    first = exc.errors(include_url=False, include_input=False)[0]
    error_type = first["type"]
    if error_type == "json_invalid":
        return Rejection("bad_json", "", first["msg"])
    if error_type in {"model_type", "model_attributes_type", "dict_type"} and not first["loc"]:
        # Only the message itself: a nested non-object ("context": []) is an invalid field.
        return Rejection("bad_json", "", "expected a JSON object")
    if error_type == "union_tag_invalid":
        tag = first.get("ctx", {}).get("tag", "?")
        known = ", ".join(EVENT_TYPES)
        return Rejection("unknown_type", "type", f"unknown event type {tag!r}; known: {known}")
    if error_type == "union_tag_not_found":
        return Rejection("invalid", "type", "missing 'type'")
    # Drop the union-member prefix ("purchase.total" -> "total"): the type is known already.
    parts = [str(part) for part in first["loc"]]
    field = ".".join(parts[1:] if parts and parts[0] in EVENT_TYPES else parts)
    extra = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return Rejection("invalid", field, f"{first['msg']}{extra}")
