"""Redis stops: the cache keeps answering from the source, counts, and recovers.

Each test runs its own ``redis-server`` on a free port, and stops it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from tests.contract.cache.loaders import Loader
from tests.integration.conftest import PrivateRedis

from tiered.cache import Cache, RedisCacheBackend, TwoLevelCacheBackend
from tiered.clock import FrozenClock
from tiered.redis_connection import connect_redis

pytestmark = pytest.mark.redis


def errors(cache: Cache) -> float:
    total = 0.0
    for metric in cache.metrics.registry.collect():
        if metric.name == "cache_errors":
            total += sum(s.value for s in metric.samples if s.name == "cache_errors_total")
    return total


@pytest_asyncio.fixture
async def client(private_redis: PrivateRedis) -> AsyncIterator[Redis]:
    redis = connect_redis(private_redis.url, timeout=0.5)
    try:
        yield redis
    finally:
        await redis.aclose()


def build(kind: str, client: Redis, clock: FrozenClock) -> RedisCacheBackend | TwoLevelCacheBackend:
    if kind == "redis":
        return RedisCacheBackend(client, namespace="outage", reconnect_delay=0.05)
    return TwoLevelCacheBackend(client, namespace="outage", clock=clock, reconnect_delay=0.05)


@pytest.mark.parametrize("kind", ["redis", "two_level"])
async def test_a_stopped_redis_serves_from_the_source_and_counts(
    kind: str, private_redis: PrivateRedis, client: Redis
) -> None:
    clock = FrozenClock()
    backend = build(kind, client, clock)
    assert await backend.start(wait=5)
    cache = Cache(backend, clock=clock, retry_after=1)
    try:
        assert await cache.get_or_set("k", Loader("cached")) == "cached"
        assert await cache.get_or_set("k", Loader("unused")) == "cached"

        private_redis.stop()
        feed = backend.remote.feed if isinstance(backend, TwoLevelCacheBackend) else backend.feed
        assert await feed.wait_until(connected=False, within=10)
        source = Loader("from the source")
        for round_number in range(1, 4):
            assert await cache.get_or_set("k", source) == "from the source"
            assert await cache.get_or_set("k", source, tags=["t"]) == "from the source"
            await cache.set("k", "ignored")
            await cache.delete("k")
            assert errors(cache) >= round_number
            clock.advance(1)
        failures = errors(cache)
        assert failures >= 3
        assert source.calls == 6

        private_redis.start()
        assert await backend.start(wait=10)
        refill = Loader("refilled")
        for _ in range(5):  # each pooled connection from before the restart fails once
            clock.advance(1)
            assert await cache.get_or_set("k", refill) == "refilled"
            if await cache.get("k") == "refilled":
                break
        assert await cache.get_or_set("k", Loader("unused")) == "refilled"
        assert refill.calls <= 5
    finally:
        await cache.aclose()


async def test_a_lost_subscription_clears_the_local_layer(
    private_redis: PrivateRedis, client: Redis
) -> None:
    clock = FrozenClock()
    backend = TwoLevelCacheBackend(client, namespace="outage", clock=clock, reconnect_delay=0.05)
    assert await backend.start(wait=5)
    cache = Cache(backend, clock=clock)
    try:
        await cache.get_or_set("k", Loader("v1"))
        await client.set(b"outage:e:k:k", b'"v2"')
        assert await cache.get("k") == "v1", "served from the local copy"
        resets = backend.remote.feed.resets

        await client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # type: ignore[no-untyped-call]
        assert await backend.remote.feed.wait_for_resets(resets + 2, within=10)
        assert await backend.start(wait=10)
        assert await cache.get("k") == "v2"
    finally:
        await cache.aclose()


async def test_the_local_layer_is_bypassed_while_the_feed_is_down(
    private_redis: PrivateRedis, client: Redis
) -> None:
    clock = FrozenClock()
    backend = TwoLevelCacheBackend(client, namespace="outage", clock=clock, reconnect_delay=0.05)
    assert await backend.start(wait=5)
    cache = Cache(backend, clock=clock, retry_after=1)
    try:
        await cache.get_or_set("k", Loader("v1"))
        assert await backend.local.get("e:k:k") == b'"v1"'
        private_redis.stop()
        assert await backend.remote.feed.wait_until(connected=False, within=10)
        assert not backend.local_active
        assert await backend.local.get("e:k:k") is None
        assert await cache.get_or_set("k", Loader("source")) == "source"
        assert await backend.local.get("e:k:k") is None
    finally:
        await cache.aclose()
