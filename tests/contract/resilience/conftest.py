"""``breakers`` and ``dedup``: one contract each, run on memory and on real Redis.

Both backends take their time from a ``FrozenClock`` (the Redis script accepts
the time as an argument for exactly this), so a test moves time instead of
waiting and every number it asserts is exact. Dedup marks on Redis expire by
the server's clock: moving time shortens their TTL, as the store contract does.
Redis keys carry a prefix unique to the test and are deleted afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from tiered.clock import FrozenClock
from tiered.resilience import (
    BreakerBackend,
    BreakerPolicy,
    Deduplicator,
    MemoryBreakerBackend,
    RedisBreakerBackend,
)
from tiered.store import MemoryStore, RedisStore

from ..redis_scratch import BACKENDS, let_time_pass, scratch_redis

POLICY = BreakerPolicy(
    failure_rate=0.5, minimum_calls=4, window=60.0, buckets=10, recovery_time=30.0, probe_lease=10.0
)


@dataclass
class Breakers:
    kind: str
    backend: BreakerBackend
    clock: FrozenClock
    client: Redis | None = None
    prefix: str = ""


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def breakers(backend_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Breakers]:
    clock = FrozenClock()
    if backend_kind == "memory":
        yield Breakers("memory", MemoryBreakerBackend(clock=clock), clock)
        return
    url: str = request.getfixturevalue("redis_url")
    async with scratch_redis(url, "breaker", command_timeout=10) as (client, name):
        prefix = f"{name}:"
        backend = RedisBreakerBackend(client, prefix=prefix, clock=clock)
        yield Breakers("redis", backend, clock, client, prefix)


@dataclass
class Dedup:
    """A deduplicator and a way to let time pass for its marks."""

    kind: str
    deduplicator: Deduplicator
    clock: FrozenClock
    client: Redis | None = None

    async def advance(self, seconds: float, *keys: str) -> None:
        """Let ``seconds`` pass (on Redis: for the marks of ``keys``, by shortening their TTL)."""
        self.clock.advance(seconds)
        if self.client is None:
            return
        store = self.deduplicator.store
        assert isinstance(store, RedisStore)
        await let_time_pass(self.client, [store.redis_key(key) for key in keys], seconds)


@pytest_asyncio.fixture
async def dedup(backend_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Dedup]:
    clock = FrozenClock()
    if backend_kind == "memory":
        yield Dedup("memory", Deduplicator(MemoryStore(clock=clock), clock=clock), clock)
        return
    url: str = request.getfixturevalue("redis_url")
    async with scratch_redis(url, "dedup", command_timeout=10) as (client, prefix):
        store = RedisStore(client).namespace(prefix)
        yield Dedup("redis", Deduplicator(store, clock=clock), clock, client)
