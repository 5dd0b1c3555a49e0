"""``MemoryCacheBackend``: a cache for one process, bounded in keys and time.

Entries, tag versions and leases share one :class:`~tiered.store.MemoryStore`
(least recently used keys go first when it is full). A tag version is read on
every get of an entry keyed on it, so it is always more recently used than
the entries of its older versions and outlives them.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from tiered.cache.signals import FillSignals, wait_for
from tiered.clock import Clock
from tiered.store import MemoryStore
from tiered.store.protocol import parse_counter

__all__ = ["MemoryCacheBackend"]


class MemoryCacheBackend:
    def __init__(
        self,
        store: MemoryStore | None = None,
        *,
        max_keys: int = 10_000,
        clock: Clock | None = None,
    ) -> None:
        self.store = store or MemoryStore(max_keys=max_keys, clock=clock)
        self._entries = self.store.namespace("e")
        self._tags = self.store.namespace("t")
        self._leases = self.store.namespace("l")
        self._signals = FillSignals()

    async def get(self, key: str) -> bytes | None:
        return self._entries.get_now(key)

    def get_now(self, key: str) -> bytes | None:
        return self._entries.get_now(key)

    async def set(
        self, key: str, value: bytes, ttl: float, *, lease_token: str | None = None
    ) -> None:
        await self._entries.set(key, value, ttl)
        if lease_token is not None and await self._leases.get(key) == lease_token.encode():
            await self._leases.delete(key)
        self._signals.notify(key)

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            await self._entries.delete(key)
            self._signals.notify(key)

    async def tag_versions(self, tags: Sequence[str]) -> list[int]:
        return self.tag_versions_now(tags)

    def tag_versions_now(self, tags: Sequence[str]) -> list[int]:
        versions = []
        for tag in tags:
            stored = self._tags.get_now(tag)
            versions.append(0 if stored is None else parse_counter(stored))
        return versions

    async def bump_tags(self, tags: Sequence[str]) -> None:
        for tag in tags:
            await self._tags.increment(tag)

    async def acquire_lease(self, key: str, ttl: float) -> str | None:
        token = secrets.token_hex(8)
        return token if await self._leases.set_if_absent(key, token.encode(), ttl) else None

    async def release_lease(self, key: str, token: str) -> None:
        if await self._leases.get(key) == token.encode():
            await self._leases.delete(key)
        self._signals.notify(key)

    async def wait_for_fill(self, key: str, at_most: float) -> bytes | None:
        with self._signals.watch(key) as woken:
            value = await self.get(key)
            if value is not None:
                return value
            await wait_for(woken, at_most)
        return await self.get(key)

    async def sync(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
