"""``segstream storefront``: a tiny loopback web server for the reference page.

GET /                          the page (static HTML and a few lines of JavaScript)
GET /api/segments?customer=ID  the customer's segments (one Redis round trip) and the content;
                               when Redis does not answer within READ_TIMEOUT_S, at once the
                               default content with ``"fallback": true`` (the shop fails open)
GET /api/changes?customer=ID   Server-Sent Events: the customer's entries and exits, read from
                               the Redis change feed; the page re-reads its segments on each
"""

from __future__ import annotations

import html
import json
import logging
import threading
import time
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis

from streams.client import SegmentClient
from streams.dependencies import redis_client
from streams.redis_connection import REDIS_FAILURES, reply_text, sync_client
from streams.settings import Settings
from streams.sink.redis_keys import changes_key
from streams.storefront.content import DEFAULT, choose_content

log = logging.getLogger(__name__)

BLOCK_MS = 1_000  # how long one XREAD waits; also how soon a stopping server ends its streams
POLL_S = 0.1  # with Redis Cluster, between rounds of non-blocking reads
# A page view waits this long for Redis at most, then shows the default content: a slow or hung
# Redis must not hold up the shop (one read is one round trip, ~1 ms when Redis is well).
READ_TIMEOUT_S = 0.5


class StorefrontServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], settings: Settings) -> None:
        super().__init__(address, _Handler)
        self.redis = redis_client(settings)  # the change feed's blocking reads
        self.quick = quick_redis_client(settings)  # everything else
        self.prefix = settings.redis_key_prefix
        self.partitions = settings.topic_partitions
        self.client = SegmentClient(self.quick, self.prefix)
        self.stopping = threading.Event()


def quick_redis_client(settings: Settings) -> redis.Redis:
    """A client that gives up after READ_TIMEOUT_S, once: retrying would only make the page wait."""
    return sync_client(
        settings, socket_timeout_s=READ_TIMEOUT_S, connect_timeout_s=READ_TIMEOUT_S, retries=0
    )


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
    """The customer's segments and content, or the default content when Redis fails or is slow."""
    try:
        customer = server.client.segments(customer_id)
    except REDIS_FAILURES as exc:
        log.warning("segments of %s unavailable, showing the default page: %r", customer_id, exc)
        return fallback_payload(customer_id)
    return {
        "customer_id": customer.customer_id,
        "resolved_id": customer.resolved_id,
        "segments": {sid: m.model_dump() for sid, m in customer.segments.items()},
        "content": asdict(choose_content(customer)),
        "fallback": False,
    }


def fallback_payload(customer_id: str) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "resolved_id": customer_id,
        "segments": {},
        "content": asdict(DEFAULT),
        "fallback": True,
    }


def page() -> bytes:
    """The page, showing the default content until the customer's own arrives (or never does)."""
    template = files("streams.storefront").joinpath("page.html").read_text()
    offers = "".join(f"<li>{html.escape(offer)}</li>" for offer in DEFAULT.offers)
    filled = template.replace("@DEFAULT_HEADLINE@", html.escape(DEFAULT.headline))
    return filled.replace("@DEFAULT_OFFERS@", offers).encode()


PAGE = page()


def feed_cursors(client: redis.Redis, prefix: str, partitions: int) -> dict[str, bytes]:
    """Each partition's change stream, at its newest entry: what a page follows from now on."""
    pipe = client.pipeline(transaction=False)
    keys = [changes_key(prefix, partition) for partition in range(partitions)]
    for key in keys:
        pipe.xrevrange(key, count=1)
    found = zip(keys, pipe.execute(), strict=True)
    return {key: newest[0][0] if newest else b"0-0" for key, newest in found}


def read_feed(client: redis.Redis, cursors: dict[str, bytes]) -> list[dict[str, str]]:
    """Change-feed entries after ``cursors`` (waiting up to BLOCK_MS), advancing them."""
    batches: Any
    if isinstance(client, redis.RedisCluster):
        batches = _poll_each(client, cursors)
    else:
        batches = client.xread(cursors, count=100, block=BLOCK_MS)  # type: ignore[arg-type]
    changes: list[dict[str, str]] = []
    for key, entries in batches or ():
        for entry_id, fields in entries:
            cursors[reply_text(key)] = entry_id
            changes.append({k.decode(): v.decode() for k, v in fields.items()})
    return changes


def _poll_each(client: redis.RedisCluster, cursors: dict[str, bytes]) -> list[Any]:
    """Redis Cluster refuses one XREAD over several slots: a read per stream, then a pause when
    there was nothing, until BLOCK_MS have passed."""
    deadline = time.monotonic() + BLOCK_MS / 1000
    while True:
        pipe: Any = client.pipeline(transaction=False)  # type: ignore[no-untyped-call]
        for key, cursor in cursors.items():
            pipe.xread({key: cursor}, count=100)
        batches = [batch for found in pipe.execute() for batch in found or ()]
        if batches or time.monotonic() >= deadline:
            return batches
        time.sleep(POLL_S)


class _Handler(BaseHTTPRequestHandler):
    server: StorefrontServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        customer = parse_qs(url.query).get("customer", [""])[0]
        if url.path == "/":
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", PAGE)
        elif url.path == "/healthz":
            self._send(HTTPStatus.OK, "text/plain", b"ok\n")  # serving; Redis may still be down
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
        server = self.server
        try:
            cursors = feed_cursors(server.quick, server.prefix, server.partitions)
            watched = {customer_id, server.client.segments(customer_id).resolved_id}
        except REDIS_FAILURES as exc:
            log.warning("change feed for %s unavailable: %r", customer_id, exc)
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"change feed unavailable\n")
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        try:
            self._write(b": connected\n\n")
            while not server.stopping.is_set():
                changes = read_feed(server.redis, cursors)
                if not changes:
                    self._write(b": keep-alive\n\n")
                for change in changes:
                    if change["customer"] in watched:
                        self._write(f"event: change\ndata: {json.dumps(change)}\n\n".encode())
                        # A merge may have made the visitor someone else: follow them.
                        watched.add(server.client.segments(customer_id).resolved_id)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away
        except REDIS_FAILURES as exc:
            log.warning("change feed for %s stopped: %s", customer_id, exc)

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("storefront: " + format, *args)
