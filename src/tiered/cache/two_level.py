"""``TwoLevelCacheBackend``: each process's memory in front of a shared Redis.

A hit in the local layer costs no round trip; the price is keeping local
copies honest. Three rules do it:

- Every write and delete is announced on the change feed, and every other
  process drops its copy of that key when it hears it. A process does not
  ignore invalidations for a while after its own writes: only the message of
  its *own* write is skipped, because it already updated its copy.
- A local copy expires after ``local_ttl`` (or sooner, with the Redis entry),
  whatever happens to the feed.
- While the feed is down, and at the moment it comes back, the local layer is
  cleared, and it is bypassed until the feed is up again: invalidations
  published meanwhile were lost.

A read that races a change is not kept locally: a copy is stored only if no
change to its key, and no feed reset, arrived while Redis was being read.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from redis.asyncio import Redis

from tiered.cache.redis_backend import ENTRY, TAG, RedisCacheBackend
from tiered.clock import Clock
from tiered.store import MemoryStore
from tiered.store.protocol import parse_counter

__all__ = ["TwoLevelCacheBackend"]


class _Flight:
    """A read or write of Redis in progress, and whether its key changed meanwhile."""

    __slots__ = ("dirty", "resets")

    def __init__(self, resets: int) -> None:
        self.dirty = False
        self.resets = resets


class TwoLevelCacheBackend:
    def __init__(
        self,
        client: Redis,
        *,
        namespace: str = "cache",
        local_ttl: float = 10.0,
        max_local_keys: int = 10_000,
        clock: Clock | None = None,
        sync_timeout: float = 5.0,
        reconnect_delay: float = 0.1,
    ) -> None:
        if not (local_ttl > 0 and math.isfinite(local_ttl)):
            raise ValueError("local_ttl must be a finite number of seconds above zero")
        self.remote = RedisCacheBackend(
            client,
            namespace=namespace,
            on_change=self._remote_change,
            on_reset=self._feed_reset,
            sync_timeout=sync_timeout,
            reconnect_delay=reconnect_delay,
        )
        self._clock = clock
        self._max_local_keys = max_local_keys
        self.local = MemoryStore(max_keys=max_local_keys, clock=clock)
        self.local_ttl = local_ttl
        self._flights: dict[str, list[_Flight]] = {}

    @property
    def local_active(self) -> bool:
        """Whether local copies are used (the change feed is up)."""
        return self.remote.feed.connected

    async def start(self, *, wait: float = 1.0) -> bool:
        return await self.remote.start(wait=wait)

    async def get(self, key: str) -> bytes | None:
        self.remote.feed.start()
        local_key = ENTRY + key
        if self.local_active:
            value = await self.local.get(local_key)
            if value is not None:
                return value
        with self._flight(local_key) as flight:
            value, expires_in = await self.remote.get_with_expiry(key)
        if value is not None:
            await self._keep(local_key, value, expires_in, flight)
        return value

    async def set(
        self, key: str, value: bytes, ttl: float, *, lease_token: str | None = None
    ) -> None:
        local_key = ENTRY + key
        with self._flight(local_key) as flight:
            await self.remote.set(key, value, ttl, lease_token=lease_token)
            await self._changed_here(local_key, flight)
        await self._keep(local_key, value, ttl, flight)

    async def delete(self, keys: Sequence[str]) -> None:
        await self.remote.delete(keys)
        for key in keys:
            await self._changed_here(ENTRY + key)

    async def tag_versions(self, tags: Sequence[str]) -> list[int]:
        self.remote.feed.start()
        versions: dict[str, int] = {}
        if self.local_active:
            for tag in tags:
                stored = await self.local.get(TAG + tag)
                if stored is not None:
                    versions[tag] = parse_counter(stored)
        missing = [tag for tag in tags if tag not in versions]
        if missing:
            with self._flights_of([TAG + tag for tag in missing]) as flights:
                fetched = await self.remote.tag_versions(missing)
            for tag, version, flight in zip(missing, fetched, flights, strict=True):
                versions[tag] = version
                await self._keep(TAG + tag, str(version).encode(), math.inf, flight)
        return [versions[tag] for tag in tags]

    async def bump_tags(self, tags: Sequence[str]) -> None:
        await self.remote.bump_tags(tags)
        for tag in tags:
            await self._changed_here(TAG + tag)

    async def acquire_lease(self, key: str, ttl: float) -> str | None:
        return await self.remote.acquire_lease(key, ttl)

    async def release_lease(self, key: str, token: str) -> None:
        await self.remote.release_lease(key, token)

    async def wait_for_fill(self, key: str, at_most: float) -> bytes | None:
        return await self.remote.wait_for_fill(key, at_most)

    async def sync(self) -> None:
        await self.remote.sync()

    async def aclose(self) -> None:
        await self.remote.aclose()

    @contextmanager
    def _flight(self, local_key: str) -> Iterator[_Flight]:
        with self._flights_of([local_key]) as flights:
            yield flights[0]

    @contextmanager
    def _flights_of(self, local_keys: Sequence[str]) -> Iterator[list[_Flight]]:
        resets = self.remote.feed.resets
        started = [(key, _Flight(resets)) for key in local_keys]
        for key, flight in started:
            self._flights.setdefault(key, []).append(flight)
        try:
            yield [flight for _, flight in started]
        finally:
            for key, flight in started:
                flights = self._flights[key]
                flights.remove(flight)
                if not flights:
                    del self._flights[key]

    async def _keep(
        self, local_key: str, value: bytes, expires_in: float | None, flight: _Flight
    ) -> None:
        """Store a local copy, unless something may have changed while Redis was busy."""
        if flight.dirty or flight.resets != self.remote.feed.resets or not self.local_active:
            return
        ttl = min(self.local_ttl, math.inf if expires_in is None else expires_in)
        if ttl > 0:
            await self.local.set(local_key, value, ttl)

    async def _changed_here(self, local_key: str, own: _Flight | None = None) -> None:
        await self.local.delete(local_key)
        for flight in self._flights.get(local_key, ()):
            if flight is not own:
                flight.dirty = True

    async def _remote_change(self, local_key: str, own: bool) -> None:
        if not own:
            await self._changed_here(local_key)

    async def _feed_reset(self, up: bool) -> None:
        self.local = MemoryStore(max_keys=self._max_local_keys, clock=self._clock)
