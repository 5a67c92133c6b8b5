"""Which rules publish each worker has read: what `rules publish` confirms its own publish against.

A partition's progress record names a rules version, not a publish: after the same version is
published again (or no worker runs at all) an old record would still read "done". So each worker
also writes a receipt to the rollout hash: the rules topic offset it has read up to, the version it
runs and the partitions whose scan under that version is done, all taken at one moment. A publish
at offset N is rolled out once receipts with an offset past N cover every partition as done.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Protocol

import redis.asyncio as aioredis

from streams.redis_connection import REDIS_FAILURES
from streams.settings import Settings
from streams.sink.redis_keys import rollout_key

log = logging.getLogger(__name__)

RECEIPT_PREFIX = "reader:"  # rollout hash fields "reader:{host}:{web port}", one per worker


class Scan(Protocol):
    """One partition's scan, as the scheduler reports it."""

    @property
    def version(self) -> str: ...

    @property
    def done(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Receipt:
    offset: int  # the rules topic offset after the last message this worker has read
    version: str  # the rules version it runs
    done: tuple[int, ...]  # partitions whose scan under ``version`` is done
    at: float = 0.0

    @classmethod
    def of(cls, offset: int, version: str, scans: Mapping[int, Scan]) -> Receipt:
        done = sorted(p for p, scan in scans.items() if scan.version == version and scan.done)
        return cls(offset, version, tuple(done), time.time())

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Receipt | None:
        """The receipt in ``text``; None for anything else (a field of another writer)."""
        try:
            data = json.loads(text)
            return cls(int(data["offset"]), str(data["version"]),
                       tuple(int(p) for p in data["done"]), float(data.get("at", 0.0)))  # fmt: skip
        except (ValueError, TypeError, KeyError):
            return None


def receipts(progress: Mapping[str, str]) -> list[Receipt]:
    """Every worker's receipt in the rollout hash (fields decoded to text)."""
    found = (Receipt.from_json(v) for k, v in progress.items() if k.startswith(RECEIPT_PREFIX))
    return [receipt for receipt in found if receipt is not None]


def confirmed_partitions(found: Iterable[Receipt], version: str, offset: int) -> set[int]:
    """Partitions rolled out under ``version`` by workers that have read the publish at ``offset``.

    >>> r = [Receipt(5, "v2", (0, 1)), Receipt(4, "v2", (2,)), Receipt(6, "v1", (3,))]
    >>> sorted(confirmed_partitions(r, "v2", 4))
    [0, 1]
    """
    partitions: set[int] = set()
    for receipt in found:
        if receipt.offset > offset and receipt.version == version:
            partitions.update(receipt.done)
    return partitions


def reader_name(settings: Settings) -> str:
    """Stable across restarts of one worker (so fields do not pile up), distinct between workers."""
    return f"{socket.gethostname()}:{settings.web_port}"


class ReceiptReporter:
    """Writes this worker's receipt when it changed (the rules follower calls it every round)."""

    def __init__(self, client: aioredis.Redis, prefix: str, reader: str) -> None:
        self._client = client
        self._key = rollout_key(prefix)
        self._field = RECEIPT_PREFIX + reader
        self._reported: tuple[int, str, tuple[int, ...]] | None = None

    async def report(self, offset: int, version: str, scans: Mapping[int, Scan]) -> None:
        receipt = Receipt.of(offset, version, scans)
        state = (receipt.offset, receipt.version, receipt.done)
        if state == self._reported:
            return
        try:
            await self._client.hset(self._key, self._field, receipt.to_json())
        except REDIS_FAILURES as exc:  # advisory, like scan progress: try again next round
            log.warning("could not report the rules read to Redis: %s", exc)
            return
        self._reported = state
