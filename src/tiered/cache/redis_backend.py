"""``RedisCacheBackend``: one cache shared by every process on a Redis server.

Each write is one atomic step that also announces the change on the
namespace's pub/sub channel (a ``SET … PX`` plus ``PUBLISH`` in one script or
``MULTI``), so a process waiting for a fill, or holding a local copy, hears of
it without polling. Keys live under ``<namespace>:e:`` (entries),
``<namespace>:t:`` (tag versions, never expiring: use a ``volatile-*`` eviction
policy so Redis does not evict them) and ``<namespace>:l:`` (fill leases).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

from redis.asyncio import Redis

from tiered.cache.change_feed import ChangeFeed, channel_name
from tiered.cache.signals import FillSignals, wait_for
from tiered.store import RedisStore, redis_errors_as_cache_errors, ttl_milliseconds
from tiered.store.protocol import parse_counter

__all__ = ["ENTRY", "SYNC", "TAG", "RedisCacheBackend"]

ENTRY = "e:"
TAG = "t:"
SYNC = "s:"
"""Kinds of key in change messages: an entry, a tag version, a sync marker."""

_SET = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return redis.call('PUBLISH', ARGV[4], ARGV[5])
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return redis.call('PUBLISH', ARGV[2], ARGV[3])
"""

ChangeHandler = Callable[[str, bool], Awaitable[None]]
ResetHandler = Callable[[bool], Awaitable[None]]


async def _ignore_change(key: str, own: bool) -> None:
    return None


async def _ignore_reset(up: bool) -> None:
    return None


class RedisCacheBackend:
    """A :class:`~tiered.cache.CacheBackend` on Redis.

    ``on_change(key, own)`` and ``on_reset(up)`` let a layer in front (the
    two-level backend) follow the change feed; keys passed to ``on_change``
    start with :data:`ENTRY`, :data:`TAG` or :data:`SYNC`.
    """

    def __init__(
        self,
        client: Redis,
        *,
        namespace: str = "cache",
        on_change: ChangeHandler = _ignore_change,
        on_reset: ResetHandler = _ignore_reset,
        sync_timeout: float = 5.0,
        reconnect_delay: float = 0.1,
    ) -> None:
        store = RedisStore(client).namespace(namespace)
        self.client = client
        self._entries = store.namespace(ENTRY[0])
        self._tags = store.namespace(TAG[0])
        self._leases = store.namespace("l")
        self._signals = FillSignals()
        self._on_change = on_change
        self._on_reset = on_reset
        self._sync_timeout = sync_timeout
        self.channel = channel_name(client, namespace)
        self.feed = ChangeFeed(
            client,
            self.channel,
            on_change=self._changed,
            on_reset=self._reset,
            reconnect_delay=reconnect_delay,
        )
        self._set = client.register_script(_SET)
        self._release = client.register_script(_RELEASE)

    async def start(self, *, wait: float = 1.0) -> bool:
        """Subscribe to the change feed; whether it is up within ``wait`` seconds.

        Optional: the first operation subscribes too. Until the feed is up,
        fills are not awaited (callers load themselves) and a local layer is
        not used.
        """
        self.feed.start()
        return await self.feed.wait_until(connected=True, within=wait)

    async def get(self, key: str) -> bytes | None:
        self.feed.start()
        return await self._entries.get(key)

    async def get_with_expiry(self, key: str) -> tuple[bytes | None, float | None]:
        """The entry and the seconds it has left, in one round trip."""
        self.feed.start()
        with redis_errors_as_cache_errors("get"):
            async with self.client.pipeline(transaction=False) as pipe:
                name = self._entries.redis_key(key)
                pipe.get(name)
                pipe.pttl(name)
                value, milliseconds = await pipe.execute()
        if value is None:
            return None, None
        return value, (math.inf if milliseconds < 0 else milliseconds / 1000)

    async def set(
        self, key: str, value: bytes, ttl: float, *, lease_token: str | None = None
    ) -> None:
        milliseconds = ttl_milliseconds(ttl)
        with redis_errors_as_cache_errors("set"):
            await self._set(
                keys=[self._entries.redis_key(key), self._leases.redis_key(key)],
                args=[
                    value,
                    milliseconds,
                    lease_token or "",
                    self.channel,
                    self.feed.message(ENTRY + key),
                ],
            )
        self._signals.notify(ENTRY + key)

    async def delete(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        with redis_errors_as_cache_errors("delete"):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(*(self._entries.redis_key(key) for key in keys))
                for key in keys:
                    pipe.publish(self.channel, self.feed.message(ENTRY + key))
                await pipe.execute()
        for key in keys:
            self._signals.notify(ENTRY + key)

    async def tag_versions(self, tags: Sequence[str]) -> list[int]:
        if not tags:
            return []
        self.feed.start()
        with redis_errors_as_cache_errors("tag_versions"):
            stored = await self.client.mget([self._tags.redis_key(tag) for tag in tags])
        return [0 if value is None else parse_counter(cast(bytes, value)) for value in stored]

    async def bump_tags(self, tags: Sequence[str]) -> None:
        if not tags:
            return
        with redis_errors_as_cache_errors("bump_tags"):
            async with self.client.pipeline(transaction=True) as pipe:
                for tag in tags:
                    pipe.incr(self._tags.redis_key(tag))
                    pipe.publish(self.channel, self.feed.message(TAG + tag))
                await pipe.execute()

    async def acquire_lease(self, key: str, ttl: float) -> str | None:
        token = secrets.token_hex(8)
        return token if await self._leases.set_if_absent(key, token.encode(), ttl) else None

    async def release_lease(self, key: str, token: str) -> None:
        with redis_errors_as_cache_errors("release_lease"):
            await self._release(
                keys=[self._leases.redis_key(key)],
                args=[token, self.channel, self.feed.message(ENTRY + key)],
            )
        self._signals.notify(ENTRY + key)

    async def wait_for_fill(self, key: str, at_most: float) -> bytes | None:
        self.feed.start()
        if not self.feed.connected:
            return await self.get(key)
        with self._signals.watch(ENTRY + key) as woken:
            value = await self.get(key)
            if value is not None:
                return value
            await wait_for(woken, at_most)
        return await self.get(key)

    async def sync(self) -> None:
        self.feed.start()
        if not self.feed.connected:
            return
        marker = SYNC + secrets.token_hex(8)
        with self._signals.watch(marker) as woken:
            with redis_errors_as_cache_errors("sync"):
                await self.client.publish(self.channel, self.feed.message(marker))
            await wait_for(woken, self._sync_timeout)

    async def aclose(self) -> None:
        await self.feed.aclose()

    async def _changed(self, key: str, own: bool) -> None:
        self._signals.notify(key)
        await self._on_change(key, own)

    async def _reset(self, up: bool) -> None:
        self._signals.notify_all()
        await self._on_reset(up)
