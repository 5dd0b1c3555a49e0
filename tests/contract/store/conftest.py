"""The ``harness`` fixture: one store contract, run on memory and on real Redis.

Time is moved, never waited for (see ``tests/contract/redis_scratch.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from tiered.clock import FrozenClock
from tiered.store import MemoryStore, RedisStore, Store

from ..redis_scratch import BACKENDS, let_time_pass, scratch_redis


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
        await let_time_pass(self.client, [self.store.redis_key(key) for key in keys], seconds)


@pytest.fixture(params=BACKENDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def harness(store_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[StoreHarness]:
    clock = FrozenClock()
    if store_kind == "memory":
        yield StoreHarness("memory", MemoryStore(max_keys=10_000, clock=clock), clock)
        return
    async with scratch_redis(request.getfixturevalue("redis_url"), "store") as (client, prefix):
        yield StoreHarness("redis", RedisStore(client).namespace(prefix), clock, client)
