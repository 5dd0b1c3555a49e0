"""The ``env`` fixture: one cache contract, run on memory, Redis and two-level backends.

``env.cache`` is the cache under test; ``env.peer()`` is another cache on the
same shared storage, as another process would have it (for memory, the same
backend: a memory cache is shared only inside one process; for Redis, a
backend of its own on the same namespace; for two-level, its own local layer
too). Redis namespaces are unique per test and deleted afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio import BlockingConnectionPool, Redis

from tiered.cache import (
    Cache,
    CacheBackend,
    MemoryCacheBackend,
    RedisCacheBackend,
    TwoLevelCacheBackend,
)
from tiered.clock import FrozenClock


@dataclass
class CacheEnv:
    kind: str
    clock: FrozenClock
    client: Redis | None = None
    namespace: str = ""
    memory_backend: MemoryCacheBackend | None = None
    caches: list[Cache] = field(default_factory=list)

    @property
    def cache(self) -> Cache:
        return self.caches[0]

    def backend(self) -> CacheBackend:
        if self.memory_backend is not None:
            return self.memory_backend
        assert self.client is not None
        if self.kind == "redis":
            return RedisCacheBackend(self.client, namespace=self.namespace)
        return TwoLevelCacheBackend(self.client, namespace=self.namespace, clock=self.clock)

    async def peer(self, **options: Any) -> Cache:
        """Another cache on the same shared storage, its change feed already up."""
        backend = self.backend()
        if isinstance(backend, (RedisCacheBackend, TwoLevelCacheBackend)):
            assert await backend.start(wait=5), "the change feed did not come up"
        cache = Cache(backend, clock=self.clock, **{"ttl_jitter": 0, **options})
        self.caches.append(cache)
        return cache

    async def expires_in(self, stored_key: str) -> float | None:
        """Seconds the shared copy of an entry has left (``k:<key>`` for an untagged key)."""
        if self.memory_backend is not None:
            return await self.memory_backend.store.namespace("e").expires_in(stored_key)
        assert self.client is not None
        remaining = await self.client.pttl(f"{self.namespace}:e:{stored_key}".encode())
        return None if remaining == -2 else remaining / 1000


def pooled_client(url: str) -> Redis:
    """A client whose callers queue for a connection rather than fail when all are busy."""
    pool = BlockingConnectionPool.from_url(url, max_connections=64, timeout=5, socket_timeout=5)
    return Redis(connection_pool=pool)


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
        pytest.param("two_level", id="two_level", marks=pytest.mark.redis),
    ]
)
def cache_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def env(cache_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[CacheEnv]:
    clock = FrozenClock()
    if cache_kind == "memory":
        setup = CacheEnv("memory", clock, memory_backend=MemoryCacheBackend(clock=clock))
    else:
        url: str = request.getfixturevalue("redis_url")
        namespace = f"tiered-test-cache-{uuid.uuid4().hex}"
        setup = CacheEnv(cache_kind, clock, client=pooled_client(url), namespace=namespace)
    await setup.peer()
    try:
        yield setup
    finally:
        for cache in setup.caches:
            await cache.aclose()
        if setup.client is not None:
            async for key in setup.client.scan_iter(match=f"{setup.namespace}:*"):
                await setup.client.delete(key)
            await setup.client.aclose()
