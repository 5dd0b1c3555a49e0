"""The ``limiter_env`` fixture: one GCRA contract, run on memory and on real Redis.

Both backends take their time from a ``FrozenClock`` here (the Redis script
accepts the time as an argument for exactly this), so every assertion is
exact and no test waits for time to pass. The Redis server's own clock is
exercised in ``test_redis_server_time.py``. Redis keys carry a prefix unique
to the test and are deleted afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import pytest
import pytest_asyncio
from redis.asyncio import BlockingConnectionPool, Redis

from tiered.clock import FrozenClock
from tiered.ratelimit import (
    MemoryRateLimitBackend,
    RateLimitBackend,
    RateLimiter,
    RateSpec,
    RedisRateLimitBackend,
)


def pooled_client(url: str) -> Redis:
    """Concurrent callers queue for one of 64 connections instead of opening one each."""
    pool = BlockingConnectionPool.from_url(url, max_connections=64, timeout=10, socket_timeout=10)
    return Redis(connection_pool=pool)


@dataclass
class LimiterEnv:
    kind: str
    clock: FrozenClock
    backend: RateLimitBackend

    def limiter(self, policies: Mapping[str, RateSpec]) -> RateLimiter:
        return RateLimiter(policies, self.backend, clock=self.clock)


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
    ]
)
async def limiter_env(request: pytest.FixtureRequest) -> AsyncIterator[LimiterEnv]:
    clock = FrozenClock()
    if request.param == "memory":
        yield LimiterEnv("memory", clock, MemoryRateLimitBackend(clock=clock))
        return
    url: str = request.getfixturevalue("redis_url")
    client = pooled_client(url)
    prefix = f"test-ratelimit-{uuid.uuid4().hex}:"
    backend = RedisRateLimitBackend(client, prefix=prefix, clock=clock)
    try:
        yield LimiterEnv("redis", clock, backend)
    finally:
        await backend.aclose()
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest_asyncio.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = pooled_client(redis_url)
    try:
        yield client
    finally:
        await client.aclose()
