"""The profiles table as the pipeline's ProfileStore: reads of one partition's RocksDB database,
writes held until the agent hands them to the changelog."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from streams.pipeline.dead_letters import DEAD_LETTERED_KEY, Marks, decode_marks
from streams.topics import APPLIED_ENVELOPE_KEY

# Bookkeeping records in every partition's store, not profiles.
RESERVED_KEYS = frozenset({APPLIED_ENVELOPE_KEY, DEAD_LETTERED_KEY})


class FaustTableStore:
    """ProfileStore over a Faust table; only called while the agent handles an envelope event.

    Writes wait in ``pending`` until the agent takes them for the changelog, which is written once
    Redis has the batch: were the changelog written first, a crash before the Redis write would
    restore profiles that already hold the batch, its replay would find nothing new, and Redis
    would miss the change.
    """

    def __init__(self, table: Any) -> None:
        self._table = table
        self.pending: dict[bytes, bytes | None] = {}  # key -> new value, None to delete
        # The partition being processed: named, since the rebatcher applies envelopes outside any
        # Faust event, and Faust's store would otherwise search every partition for a key.
        self.partition = 0

    def load(self, key: str, handle: None) -> bytes | None:
        raw = key.encode()
        if raw in self.pending:
            return self.pending[raw]
        return self._read(self.partition, raw)

    def applied_envelope(self, partition: int) -> int | None:
        """The last envelope applied in ``partition`` (its own store's record)."""
        raw = self._read(partition, APPLIED_ENVELOPE_KEY)
        return None if raw is None else int(raw)

    def _read(self, partition: int, key: bytes) -> bytes | None:
        # The partition's own database: one RocksDB read, where the table's get() makes two
        # (contains, then get) and feeds sensors.
        value: bytes | None = self._table.data._db_for_partition(partition).get(key)
        return value

    def save(self, key: str, value: bytes, handle: None) -> None:
        self.pending[key.encode()] = value

    def delete(self, key: str, handle: None) -> None:
        self.pending[key.encode()] = None

    def dead_letter_marks(self) -> Marks:
        """What the current partition dead-lettered so far (see streams.pipeline.dead_letters)."""
        return decode_marks(self._read(self.partition, DEAD_LETTERED_KEY))

    def take_writes(self, applied_envelope: int) -> dict[bytes, bytes | None]:
        """The pending writes, handed over for the changelog, ending with the envelope's offset."""
        writes, self.pending = self.pending, {}
        writes[APPLIED_ENVELOPE_KEY] = b"%d" % applied_envelope
        return writes

    def discard(self) -> None:
        self.pending.clear()

    # Faust's Table API has no per-partition iteration; scans need the partition each profile
    # lives in, so they read the RocksDB store's partition databases directly (read-only).
    def partition_items(self, partition: int) -> Iterator[tuple[bytes, bytes]]:
        store = self._table.data
        database = store._dbs.get(partition)
        if database is not None:
            for key, value in store._visible_items(database):
                if key not in RESERVED_KEYS:
                    yield key, value

    def partition_size(self, partition: int) -> int:
        store = self._table.data
        database = store._dbs.get(partition)
        if database is None:
            return 0
        return sum(1 for key in store._visible_keys(database) if key not in RESERVED_KEYS)
