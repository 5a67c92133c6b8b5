"""Lets batch code write a Faust table on behalf of one event of the batch.

Faust routes a table write (RocksDB partition and changelog partition) by the *current event*, a
context variable it sets while a stream yields one event. Batch processing (``take_events``)
yields a list instead, so before each read or write we make the event that carried the key
current again: the key then lands in the same partition as its source message, exactly as a per-
event agent would write it. This is the one place that touches that Faust internal; tests pin
its behaviour."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event, current_event


@contextmanager
def acting_as(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event for the duration of the block."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def active_event() -> Any:
    return current_event()
