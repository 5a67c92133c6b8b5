"""Offline replay of an event history into profiles, for previews: no Kafka, no Redis.

Identity is simplified here: an event lands on its customer id, else on its anonymous id (visitors
are not merged), and forget events erase. Everything else is the worker's own pure code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from streams.events import EventRejected, decode_event
from streams.profile import Profile, apply_event
from streams.replay.cdnow import DEFAULT_PATH, purchase_event, read_cdnow

PROGRESS_EVERY = 50_000


@dataclass(slots=True)
class Replayed:
    profiles: dict[str, Profile] = field(default_factory=dict)
    events: int = 0
    rejected: int = 0
    last_event_at: float = 0.0
    seconds: float = 0.0


def replay(
    raw_events: Iterable[bytes],
    *,
    max_event_bytes: int = 1024 * 1024,
    progress: Callable[[int], None] | None = None,
) -> Replayed:
    """Apply every valid event to its subject's profile; count the ones that do not validate.

    >>> import json
    >>> out = replay([json.dumps({"type": "purchase", "event_id": "e1", "customer_id": "c1",
    ...     "ts": "2024-01-01T00:00:00Z", "order_id": "o1", "total": "9.99"}).encode(), b"{"])
    >>> out.profiles["c1"].spend_cents, out.events, out.rejected
    (999, 1, 1)
    """
    out = Replayed()
    started = time.monotonic()
    for raw in raw_events:
        out.events += 1
        try:
            event = decode_event(raw, max_bytes=max_event_bytes)
        except EventRejected:
            out.events -= 1
            out.rejected += 1
            continue
        subject = event.subject_id
        if event.type == "forget":
            out.profiles.pop(subject, None)
        else:
            profile = out.profiles.get(subject)
            if profile is None:
                profile = out.profiles[subject] = Profile(
                    subject, anonymous=event.customer_id is None
                )
            apply_event(profile, event)
        out.last_event_at = max(out.last_event_at, event.epoch_s)
        if progress is not None and out.events % PROGRESS_EVERY == 0:
            progress(out.events)
    out.seconds = time.monotonic() - started
    return out


def events_file(path: Path) -> Iterator[bytes]:
    """One JSON event per line (blank lines skipped), as the events topic would carry them."""
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                yield line.strip()


def cdnow_events(path: Path = DEFAULT_PATH) -> Iterator[bytes]:
    for purchase in read_cdnow(path):
        yield purchase_event(purchase)[1]
