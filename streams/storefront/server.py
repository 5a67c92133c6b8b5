"""``segstream storefront``: a tiny loopback web server for the reference page.

GET /                          the page (static HTML and a few lines of JavaScript)
GET /api/segments?customer=ID  the customer's segments (one Redis round trip) and the content
GET /api/changes?customer=ID   Server-Sent Events: the customer's entries and exits, read from
                               the Redis change feed; the page re-reads its segments on each
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis

from streams.client import SegmentClient
from streams.dependencies import redis_client
from streams.settings import Settings
from streams.sink.redis_keys import changes_key
from streams.storefront.content import choose_content

log = logging.getLogger(__name__)

PAGE = files("streams.storefront").joinpath("page.html").read_bytes()
BLOCK_MS = 1_000  # how long one XREAD waits; also how soon a stopping server ends its streams


class StorefrontServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], settings: Settings) -> None:
        super().__init__(address, _Handler)
        self.redis = redis_client(settings)
        self.prefix = settings.redis_key_prefix
        self.client = SegmentClient(self.redis, self.prefix)
        self.stopping = threading.Event()


def storefront_server(settings: Settings, host: str, port: int) -> StorefrontServer:
    return StorefrontServer((host, port), settings)


def serve(settings: Settings, host: str, port: int) -> None:
    server = storefront_server(settings, host, port)
    print(f"storefront on http://{host}:{server.server_port}/?customer=CUSTOMER_ID", flush=True)
    try:
        server.serve_forever()
    finally:
        server.stopping.set()
        server.server_close()


def segments_payload(server: StorefrontServer, customer_id: str) -> dict[str, Any]:
    customer = server.client.segments(customer_id)
    return {
        "customer_id": customer.customer_id,
        "resolved_id": customer.resolved_id,
        "segments": {sid: m.model_dump() for sid, m in customer.segments.items()},
        "content": asdict(choose_content(customer)),
    }


def read_feed(client: redis.Redis, key: str, cursor: bytes) -> tuple[bytes, list[dict[str, str]]]:
    """Change-feed entries after ``cursor`` (waiting up to BLOCK_MS), and the new cursor."""
    batches: Any = client.xread({key: cursor}, count=100, block=BLOCK_MS)
    changes: list[dict[str, str]] = []
    for _, entries in batches or ():
        for entry_id, fields in entries:
            cursor = entry_id
            changes.append({k.decode(): v.decode() for k, v in fields.items()})
    return cursor, changes


class _Handler(BaseHTTPRequestHandler):
    server: StorefrontServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        customer = parse_qs(url.query).get("customer", [""])[0]
        if url.path == "/":
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", PAGE)
        elif url.path == "/api/segments" and customer:
            body = json.dumps(segments_payload(self.server, customer)).encode()
            self._send(HTTPStatus.OK, "application/json", body)
        elif url.path == "/api/changes" and customer:
            self._stream_changes(customer)
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream_changes(self, customer_id: str) -> None:
        server, key = self.server, changes_key(self.server.prefix)
        newest: Any = server.redis.xrevrange(key, count=1)
        cursor: bytes = newest[0][0] if newest else b"0-0"
        watched = {customer_id, server.client.segments(customer_id).resolved_id}
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        try:
            self._write(b": connected\n\n")
            while not server.stopping.is_set():
                cursor, changes = read_feed(server.redis, key, cursor)
                if not changes:
                    self._write(b": keep-alive\n\n")
                for change in changes:
                    if change["customer"] in watched:
                        self._write(f"event: change\ndata: {json.dumps(change)}\n\n".encode())
                        # A merge may have made the visitor someone else: follow them.
                        watched.add(server.client.segments(customer_id).resolved_id)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away
        except redis.RedisError as exc:
            log.warning("change feed for %s stopped: %s", customer_id, exc)

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("storefront: " + format, *args)
