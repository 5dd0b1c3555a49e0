"""``RedisStore``: the store shared by every process on one Redis.

Each operation is one round trip and atomic on the server: ``SET … NX PX`` for
``set_if_absent``, and a small script for ``increment`` so that a counter's
expiry is set in the same step that creates it (an ``INCR`` followed by a
separate ``EXPIRE`` leaves an immortal counter behind if the process dies in
between). Timeouts are the client's: build it with
:func:`tiered.redis_connection.connect_redis`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self, cast, overload

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from tiered.errors import CacheError, ConfigurationError
from tiered.store.protocol import check_increment, check_namespace, check_ttl

__all__ = ["RedisStore", "redis_errors_as_cache_errors", "ttl_milliseconds"]

_INCREMENT = """
if ARGV[2] ~= '' then redis.call('SET', KEYS[1], 0, 'NX', 'PX', ARGV[2]) end
return redis.call('INCRBY', KEYS[1], ARGV[1])
"""
_NOT_A_COUNTER = ("not an integer", "overflow")


@contextmanager
def redis_errors_as_cache_errors(operation: str) -> Iterator[None]:
    """Raise a failed Redis call as ``CacheError`` (503), the error callers degrade on."""
    try:
        yield
    except (RedisError, OSError) as error:
        raise CacheError(f"Redis failed during {operation}") from error


@overload
def ttl_milliseconds(ttl: float) -> int: ...


@overload
def ttl_milliseconds(ttl: None) -> None: ...


def ttl_milliseconds(ttl: float | None) -> int | None:
    """``ttl`` in whole milliseconds for ``PX``, never rounded down to zero."""
    ttl = check_ttl(ttl)
    return None if ttl is None else max(1, math.ceil(ttl * 1000))


class RedisStore:
    """A :class:`~tiered.store.Store` on a redis-py asyncio client.

    The client must return bytes (``decode_responses=False``, the default):
    values are arbitrary bytes. Keys are sent as UTF-8, with lone surrogates
    kept (``surrogatepass``), so every ``str`` is a distinct key.
    """

    def __init__(self, client: Redis, *, prefix: str = "") -> None:
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ConfigurationError("RedisStore needs a client with decode_responses=False")
        self.client = client
        self.prefix = prefix
        self._increment = client.register_script(_INCREMENT)

    def namespace(self, name: str) -> Self:
        view = object.__new__(type(self))
        view.client = self.client
        view.prefix = self.prefix + check_namespace(name)
        view._increment = self._increment
        return view

    def redis_key(self, key: str) -> bytes:
        """The key as Redis sees it (prefix included), for scripts of other blocks."""
        return (self.prefix + key).encode("utf-8", "surrogatepass")

    async def get(self, key: str) -> bytes | None:
        with redis_errors_as_cache_errors("get"):
            value = await self.client.get(self.redis_key(key))
        return cast("bytes | None", value)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        milliseconds = ttl_milliseconds(ttl)
        with redis_errors_as_cache_errors("set"):
            await self.client.set(self.redis_key(key), value, px=milliseconds)

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        milliseconds = ttl_milliseconds(ttl)
        with redis_errors_as_cache_errors("set_if_absent"):
            stored = await self.client.set(self.redis_key(key), value, px=milliseconds, nx=True)
        return bool(stored)

    async def increment(self, key: str, by: int = 1, ttl: float | None = None) -> int:
        check_increment(by)
        milliseconds = ttl_milliseconds(ttl)
        expiry = "" if milliseconds is None else str(milliseconds)
        with redis_errors_as_cache_errors("increment"):
            try:
                total = await self._increment(keys=[self.redis_key(key)], args=[by, expiry])
            except ResponseError as error:
                if any(reason in str(error) for reason in _NOT_A_COUNTER):
                    raise ValueError("the value under this key is not a 64-bit integer") from error
                raise
        return int(total)

    async def delete(self, key: str) -> bool:
        with redis_errors_as_cache_errors("delete"):
            removed: int = await self.client.delete(self.redis_key(key))
        return removed > 0

    async def expires_in(self, key: str) -> float | None:
        with redis_errors_as_cache_errors("expires_in"):
            milliseconds: int = await self.client.pttl(self.redis_key(key))
        if milliseconds == -2:
            return None
        if milliseconds == -1:
            return math.inf
        return milliseconds / 1000
