"""The ``harness`` fixture: the idempotency contract on a memory store and on real Redis.

Time is moved, never waited for: the memory store runs on a ``FrozenClock``;
on Redis, moving time shortens the remaining TTL of every key of the test's
namespace (and deletes those it brings to zero), as the server would have.
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
class Harness:
    kind: str
    store: Store
    clock: FrozenClock
    client: Redis | None = None
    prefix: str = ""

    async def advance(self, seconds: float) -> None:
        if self.client is None:
            self.clock.advance(seconds)
            return
        async for name in self.client.scan_iter(match=f"{self.prefix}:*"):
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
async def harness(store_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    clock = FrozenClock()
    if store_kind == "memory":
        yield Harness("memory", MemoryStore(clock=clock), clock)
        return
    url: str = request.getfixturevalue("redis_url")
    client = connect_redis(url)
    prefix = f"tiered-test-idempotency-{uuid.uuid4().hex}"
    try:
        yield Harness("redis", RedisStore(client).namespace(prefix), clock, client, prefix)
    finally:
        async for key in client.scan_iter(match=f"{prefix}:*"):
            await client.delete(key)
        await client.aclose()
