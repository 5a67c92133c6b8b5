"""A bounded write-through cache of decoded profiles, so hot customers skip the decode.

Every save goes through the cache and the table together, so a cached profile always equals the
stored one. The worker clears it when partitions move and whenever a batch fails half-way.
"""

from __future__ import annotations

from collections import OrderedDict

from streams.profile import Profile


class ProfileCache:
    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[str, Profile] = OrderedDict()
        self._max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Profile | None:
        profile = self._entries.get(key)
        if profile is None:
            self.misses += 1
        else:
            self.hits += 1
            self._entries.move_to_end(key)
        return profile

    def put(self, key: str, profile: Profile) -> None:
        self._entries[key] = profile
        self._entries.move_to_end(key)
        if len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def discard(self, key: str) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
