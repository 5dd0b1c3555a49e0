"""``MemoryStore``: the store of one process, bounded whatever keys it is sent.

An in-process limiter keyed by client address is the classic leak: every new
address adds an entry that nothing removes. Here the number of keys is capped
(least recently used keys go first) and expired keys are swept on every write,
so a flood of distinct keys costs at most ``max_keys`` entries. Expiry follows
the injected clock's monotonic time, so tests move time instead of sleeping.

Every operation runs without awaiting anything, so each one is atomic on the
event loop without a lock.
"""

from __future__ import annotations

import math
from typing import Self

from cachetools import TLRUCache

from tiered.clock import Clock, SystemClock
from tiered.store.protocol import (
    INT64_MAX,
    INT64_MIN,
    check_increment,
    check_namespace,
    check_ttl,
    parse_counter,
)

__all__ = ["MemoryStore"]


class _Entry:
    __slots__ = ("expires_at", "value")

    def __init__(self, value: bytes, expires_at: float) -> None:
        self.value = value
        self.expires_at = expires_at


def _expiry(_key: str, entry: _Entry, _now: float) -> float:
    return entry.expires_at


class MemoryStore:
    """A :class:`~tiered.store.Store` in this process's memory.

    ``max_keys`` bounds the entries of the store and all its namespaces
    together: the views made by :meth:`namespace` share one table.
    """

    def __init__(self, *, max_keys: int = 10_000, clock: Clock | None = None) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._clock = clock or SystemClock()
        self._entries: TLRUCache[str, _Entry] = TLRUCache(
            max_keys, _expiry, timer=self._clock.monotonic
        )
        self._prefix = ""

    @property
    def max_keys(self) -> int:
        return int(self._entries.maxsize)

    def __len__(self) -> int:
        """Entries held, in every namespace (expired ones not yet swept included)."""
        return len(self._entries)

    def namespace(self, name: str) -> Self:
        view = object.__new__(type(self))
        view._clock = self._clock
        view._entries = self._entries
        view._prefix = self._prefix + check_namespace(name)
        return view

    def _expires_at(self, ttl: float | None) -> float:
        ttl = check_ttl(ttl)
        return math.inf if ttl is None else self._clock.monotonic() + ttl

    def _live(self, key: str) -> _Entry | None:
        return self._entries.get(self._prefix + key)

    async def get(self, key: str) -> bytes | None:
        return self.get_now(key)

    def get_now(self, key: str) -> bytes | None:
        """:meth:`get` without a coroutine, for callers in this process that read often."""
        entry = self._live(key)
        return None if entry is None else entry.value

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._entries[self._prefix + key] = _Entry(bytes(value), self._expires_at(ttl))

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        expires_at = self._expires_at(ttl)
        if self._live(key) is not None:
            return False
        self._entries[self._prefix + key] = _Entry(bytes(value), expires_at)
        return True

    async def increment(self, key: str, by: int = 1, ttl: float | None = None) -> int:
        check_increment(by)
        expires_at = self._expires_at(ttl)
        entry = self._live(key)
        if entry is not None:
            expires_at = entry.expires_at
        total = (0 if entry is None else parse_counter(entry.value)) + by
        if not INT64_MIN <= total <= INT64_MAX:
            raise ValueError("the increment would overflow a signed 64-bit integer")
        self._entries[self._prefix + key] = _Entry(str(total).encode(), expires_at)
        return total

    async def delete(self, key: str) -> bool:
        return self._entries.pop(self._prefix + key, None) is not None

    async def expires_in(self, key: str) -> float | None:
        entry = self._live(key)
        if entry is None:
            return None
        return entry.expires_at - self._clock.monotonic()
