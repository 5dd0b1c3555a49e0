"""The ``harness`` fixture: one store contract, run on memory and on real Redis.

Time is moved, never waited for: the memory store runs on a ``FrozenClock``;
on Redis, moving time by ``s`` seconds for some keys shortens their
remaining TTL by ``s`` (and deletes them when it reaches zero), which is what
the server would have done had the time passed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from tiered.clock import FrozenClock
from tiered.redis_connection import connect_redis
from tiered.store import MemoryStore, RedisStore, Store


@dataclass
class StoreHarness:
    kind: str
    store: Store
    clock: FrozenClock
    client: Redis | None = None

    async def advance(self, seconds: float, *keys: str) -> None:
        """Let ``seconds`` pass for ``keys`` (for every key, on the memory store)."""
        if self.client is None:
            self.clock.advance(seconds)
            return
        assert isinstance(self.store, RedisStore)
        for key in keys:
            name = self.store.redis_key(key)
            remaining = await self.client.pttl(name)
            if remaining < 0:
                continue
            left = remaining - round(seconds * 1000)
            if left <= 0:
                await self.client.delete(name)
            else:
                await self.client.pexpire(name, left)


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
    ]
)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def harness(store_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[StoreHarness]:
    clock = FrozenClock()
    if store_kind == "memory":
        yield StoreHarness("memory", MemoryStore(max_keys=10_000, clock=clock), clock)
        return
    url: str = request.getfixturevalue("redis_url")
    client = connect_redis(url)
    prefix = f"tiered-test-store-{uuid.uuid4().hex}"
    try:
        yield StoreHarness("redis", RedisStore(client).namespace(prefix), clock, client)
    finally:
        async for key in client.scan_iter(match=f"{prefix}:*"):
            await client.delete(key)
        await client.aclose()
