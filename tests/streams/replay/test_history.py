"""Offline replays build the same profiles the worker would, and count what does not validate."""

from __future__ import annotations

import json
from pathlib import Path

from streams.replay.history import cdnow_events, events_file, replay


def event(n: int, customer: str | None, kind: str = "purchase", **fields: object) -> bytes:
    ids = {"customer_id": customer} if customer else {"anonymous_id": "anon-1"}
    body = {"type": kind, "event_id": f"e{n}", "ts": f"2024-01-0{n}T00:00:00Z", **ids, **fields}
    return json.dumps(body).encode()


def test_replay_applies_valid_events_and_skips_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        event(1, "c1", order_id="o1", total="10.00"),
        b"",
        b"{not json",
        event(2, "c1", order_id="o2", total="5.50"),
        event(3, None, "page_view", url="/"),
        event(4, "c2", order_id="o3", total="1.00"),
        event(5, "c2", "forget"),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    seen: list[int] = []
    out = replay(events_file(path), progress=seen.append)
    assert out.profiles["c1"].spend_cents == 1550
    assert out.profiles["anon-1"].anonymous
    assert "c2" not in out.profiles  # forgotten
    assert (out.events, out.rejected) == (5, 1)
    assert out.last_event_at == 1704412800.0  # 2024-01-05


def test_cdnow_replay_covers_every_customer() -> None:
    out = replay(cdnow_events())
    assert len(out.profiles) == 23_570
    assert out.events == 69_659
