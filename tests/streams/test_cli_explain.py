"""`segstream explain` of a visitor merged into a customer: never the alias's frozen verdicts.

The worker's answers are served by a plain HTTP server on loopback, in the shape the worker's
``/segstream/explain/{id}/`` view gives (tests/integration/test_ops.py asks a real worker).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from streams.cli import main
from streams.errors import EXIT_OK, EXIT_UNAVAILABLE, EXIT_UNHEALTHY


def verdict(segment_id: str, member: bool) -> dict[str, Any]:
    return {"segment_id": segment_id, "member": member, "variant": "treatment" if member else "",
            "parts": [{"text": "spend_lifetime >= 100", "value": member}],
            "features": {"spend_lifetime": 150.0 if member else 5.0}}  # fmt: skip


# fmt: off
ANSWERS: dict[str, dict[str, Any]] = {
    "anon-1": {"customer_id": "anon-1", "found": True, "rules_version": "r1", "consent": True,
               "merged_into": "cust-1", "published": [], "cluster": {"status": "merged"},
               "verdicts": []},
    "cust-1": {"customer_id": "cust-1", "found": True, "rules_version": "r1", "consent": True,
               "merged_into": None, "published": ["big_spenders"],
               "cluster": {"status": "disabled"}, "verdicts": [verdict("big_spenders", True)]},
    "nobody": {"customer_id": "nobody", "found": False, "verdicts": []},
}
# fmt: on


class WorkerView(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        customer = self.path.rstrip("/").rsplit("/", 1)[-1]
        body = json.dumps(ANSWERS[customer]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def worker_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), WorkerView)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("SEGSTREAM_WEB_HOST", "127.0.0.1")
    monkeypatch.setenv("SEGSTREAM_WEB_PORT", str(server.server_port))
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def test_a_merged_visitor_is_said_merged_and_its_customer_is_explained(
    worker_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "anon-1"]) == EXIT_OK
    out = capsys.readouterr().out
    first, *rest = out.splitlines()
    assert first.startswith("anon-1 was merged into customer cust-1")
    assert "published for it: none" in first
    assert rest[0] == "customer cust-1"
    assert "big_spenders" in rest[1]
    assert "IN (treatment)" in rest[1]
    assert "customer anon-1" not in out


def test_no_profile_exits_1_and_no_worker_exits_3(
    worker_port: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["explain", "nobody"]) == EXIT_UNHEALTHY
    assert capsys.readouterr().out == "nobody: no profile\n"
    assert main(["explain", "nobody", "--json"]) == EXIT_UNHEALTHY
    monkeypatch.setenv("SEGSTREAM_WEB_PORT", "1")  # nothing listens on port 1
    assert main(["explain", "cust-1"]) == EXIT_UNAVAILABLE
    assert capsys.readouterr().err.startswith("segstream: no worker answered at ")
