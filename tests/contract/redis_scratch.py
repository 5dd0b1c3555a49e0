"""What the memory-and-Redis contract suites share: a scratch key space, and time passing.

Time is moved, never waited for: memory backends run on a ``FrozenClock``; on
Redis, moving time by ``s`` seconds for some keys shortens their remaining TTL
by ``s`` (deleting them when it reaches zero), which is what the server would
have done had the time passed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis

from tiered.redis_connection import connect_redis

__all__ = ["BACKENDS", "let_time_pass", "scratch_redis"]

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]
"""Parameters of a fixture that builds each backend of a contract suite."""


@asynccontextmanager
async def scratch_redis(
    url: str, name: str, *, command_timeout: float = 1.0
) -> AsyncIterator[tuple[Redis, str]]:
    """A client and a key prefix of this test's own; every key under it is deleted after."""
    client = connect_redis(url, timeout=command_timeout)
    prefix = f"tiered-test-{name}-{uuid.uuid4().hex}"
    try:
        yield client, prefix
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def let_time_pass(
    client: Redis, names: Iterable[str] | AsyncIterable[str], seconds: float
) -> None:
    """Shorten the TTL of ``names`` by ``seconds``, deleting the keys whose time is up."""
    if isinstance(names, AsyncIterable):
        names = [name async for name in names]
    for name in names:
        remaining = await client.pttl(name)
        if remaining < 0:
            continue
        left = remaining - round(seconds * 1000)
        if left <= 0:
            await client.delete(name)
        else:
            await client.pexpire(name, left)
