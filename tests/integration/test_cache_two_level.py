"""Two-level cache on real Redis: local copies serve, expire, and never outlive a change."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from tests.contract.cache.loaders import Loader, within

from tiered.cache import Cache, TwoLevelCacheBackend
from tiered.clock import FrozenClock
from tiered.redis_connection import connect_redis

pytestmark = pytest.mark.redis


@dataclass
class Instance:
    cache: Cache
    backend: TwoLevelCacheBackend


@dataclass
class Cluster:
    client: Redis
    namespace: str
    clock: FrozenClock
    make: Callable[..., Awaitable[Instance]]

    async def write_behind_its_back(self, key: str, value: bytes) -> None:
        """Change the shared copy without announcing it, as only a bug would."""
        await self.client.set(f"{self.namespace}:e:k:{key}".encode(), value, px=60_000)


@pytest_asyncio.fixture
async def cluster(redis_url: str) -> AsyncIterator[Cluster]:
    client = connect_redis(redis_url)
    namespace = f"tiered-test-two-level-{uuid.uuid4().hex}"
    clock = FrozenClock()
    instances: list[Instance] = []

    async def make(**options: object) -> Instance:
        backend = TwoLevelCacheBackend(client, namespace=namespace, clock=clock, **options)  # type: ignore[arg-type]
        assert await backend.start(wait=5)
        instance = Instance(Cache(backend, clock=clock, ttl_jitter=0), backend)
        instances.append(instance)
        return instance

    try:
        yield Cluster(client, namespace, clock, make)
    finally:
        for instance in instances:
            await instance.cache.aclose()
        async for key in client.scan_iter(match=f"{namespace}:*"):
            await client.delete(key)
        await client.aclose()


async def test_a_local_copy_serves_until_a_write_elsewhere_is_announced(cluster: Cluster) -> None:
    a, b = await cluster.make(), await cluster.make()
    assert await b.cache.get_or_set("k", Loader("v1"), ttl=60) == "v1"
    await cluster.write_behind_its_back("k", b'"unannounced"')
    assert await b.cache.get("k") == "v1", "served from the local copy"
    await a.cache.set("k", "v2")
    await b.cache.sync()
    assert await b.cache.get("k") == "v2"


async def test_a_local_copy_expires_after_local_ttl(cluster: Cluster) -> None:
    b = await cluster.make(local_ttl=5)
    await b.cache.get_or_set("k", Loader("v1"), ttl=60)
    await cluster.write_behind_its_back("k", b'"v2"')
    cluster.clock.advance(4.9)
    assert await b.cache.get("k") == "v1"
    cluster.clock.advance(0.1)
    assert await b.cache.get("k") == "v2"


async def test_a_local_copy_never_outlives_the_shared_entry(cluster: Cluster) -> None:
    b = await cluster.make(local_ttl=60)
    await b.cache.set("short", "v", ttl=2)
    assert await b.cache.get("short") == "v"
    remaining = await b.backend.local.expires_in("e:k:short")
    assert remaining is not None
    assert remaining <= 2


async def test_its_own_write_is_kept_locally(cluster: Cluster) -> None:
    a = await cluster.make()
    await a.cache.set("k", "mine")
    await a.cache.sync()
    await cluster.write_behind_its_back("k", b'"unannounced"')
    assert await a.cache.get("k") == "mine"


async def test_a_read_racing_a_change_is_not_kept(cluster: Cluster) -> None:
    a, b = await cluster.make(), await cluster.make()
    await b.cache.set("k", "old")
    remote = a.backend.remote
    original = remote.get_with_expiry
    have_read, resume = asyncio.Event(), asyncio.Event()

    async def slow_read(key: str) -> tuple[bytes | None, float | None]:
        result = await original(key)
        have_read.set()
        await resume.wait()
        return result

    remote.get_with_expiry = slow_read  # type: ignore[method-assign]
    reading = asyncio.ensure_future(a.cache.get("k"))
    await within(5, have_read.wait())
    await b.cache.set("k", "new")
    await a.cache.sync()
    resume.set()
    assert await within(5, reading) == "old"
    remote.get_with_expiry = original  # type: ignore[method-assign]
    assert await a.cache.get("k") == "new"


async def test_tag_versions_are_cached_locally_and_invalidated(cluster: Cluster) -> None:
    a, b = await cluster.make(), await cluster.make()
    await b.cache.get_or_set("list", Loader(["v1"]), tags=["markets"])
    await cluster.client.incr(f"{cluster.namespace}:t:markets".encode())
    assert await b.cache.get("list", tags=["markets"]) == ["v1"], "version read locally"
    await a.cache.invalidate_tags("markets")
    await b.cache.sync()
    assert await b.backend.tag_versions(["markets"]) == [2]
    assert await b.cache.get("list", tags=["markets"]) is None
