"""A cheaper pydantic validator for plainly well-formed events; the full one decides the rest.

The models in ``schemas`` stay the schema: the JSON Schema, the documentation and every rejection
come from them. This validator is derived from their own core schema, with three costs taken out:

- money: pydantic checks a decimal's bounds, digits and places with several Python calls each
  time; here money must be plain decimal text of at most 9 digits before the point and 4 after
  (e.g. "124.39"), which is within all of those bounds, and becomes ``Decimal(text)`` as before;
- the two Python validators (an event time from 1990 to now + 1 day; a customer or a visitor id)
  are checked after validation, where the event time is read as epoch seconds once, and kept as
  the event's ``epoch_s``.

So it accepts a subset of what the full validator accepts, and builds the same objects from it:
the same classes, field values, defaults and fields set. Anything else, valid or not (money as a
JSON number, an implausible time, a missing id, ...), returns None, and the full validator
validates the message as before, so dead letters keep their reasons. Validation was the largest
share of the pipeline's time (bench/RESULTS.md); tests/streams/events/test_fast.py checks on
valid and hostile input that whatever this accepts, the full validator accepts as the same object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import SchemaValidator, core_schema

from streams.events import schemas as ev

# Within every Money bound (0 <= x <= 1e9, 14 digits, 4 places) whatever the reading of "digits".
MONEY_TEXT = r"^(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,4})?$"
MONEY_BOUNDS = {"ge": 0, "le": Decimal("1e9"), "max_digits": 14, "decimal_places": 4}
# The Python validators checked after validation instead (see plain_event).
CHECKED_AFTER = frozenset({"_plausible_time", "_has_identity"})


class SchemaDrift(TypeError):
    """The event schema changed in a way this derivation does not know: update it (or drop it)."""


def _plain_money() -> core_schema.CoreSchema:
    text = core_schema.str_schema(pattern=MONEY_TEXT, strict=True)
    return core_schema.no_info_after_validator_function(Decimal, text)


def _function_name(node: Mapping[str, Any]) -> str:
    return str(getattr(node["function"]["function"], "__name__", ""))


def _derive(node: Any, dropped: set[str]) -> Any:
    """A copy of core schema ``node`` with money as plain text and ``CHECKED_AFTER`` left out."""
    if isinstance(node, list):
        return [_derive(item, dropped) for item in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    if kind == "function-after" and _function_name(node) in CHECKED_AFTER:
        dropped.add(_function_name(node))
        return _derive(node["schema"], dropped)
    if kind == "decimal":
        bounds = {name: node.get(name) for name in MONEY_BOUNDS}
        if bounds != MONEY_BOUNDS or node.keys() - {"type", "metadata", *MONEY_BOUNDS}:
            raise SchemaDrift(f"a decimal that is not Money: {node}")
        return _plain_money()
    return {key: _derive(value, dropped) for key, value in node.items()}


def _plain_validator(adapter: TypeAdapter[Any]) -> SchemaValidator:
    dropped: set[str] = set()
    schema = _derive(adapter.core_schema, dropped)
    if dropped != CHECKED_AFTER:
        raise SchemaDrift(f"expected Python validators {sorted(CHECKED_AFTER)}, saw {dropped}")
    return SchemaValidator(schema)


def plain_decoder(adapter: TypeAdapter[Any]) -> Callable[[bytes], ev.Event | None]:
    """A function: raw bytes -> the event ``adapter`` would validate, or None (let it decide)."""
    validator = _plain_validator(adapter)

    def plain_event(raw: bytes) -> ev.Event | None:
        try:
            event = validator.validate_json(raw)
        except ValidationError:
            return None
        if event.customer_id is None and event.anonymous_id is None:
            return None
        epoch = event.ts.timestamp()
        if not ev.plausible_epoch(epoch):
            return None
        # What the cached property would compute on first use, computed once.
        event.__dict__["epoch_s"] = epoch
        return event  # type: ignore[no-any-return]

    return plain_event
