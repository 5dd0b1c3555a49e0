"""A stopped Redis makes store calls fail as ``CacheError``; a restarted one serves again."""

from __future__ import annotations

import pytest
from tests.integration.conftest import PrivateRedis

from tiered.errors import CacheError
from tiered.redis_connection import connect_redis
from tiered.store import RedisStore

pytestmark = pytest.mark.redis


async def test_the_store_fails_as_503_while_down_and_recovers(private_redis: PrivateRedis) -> None:
    client = connect_redis(private_redis.url, timeout=0.5)
    store = RedisStore(client).namespace("limits")
    try:
        assert await store.increment("ip:1", ttl=60) == 1
        private_redis.stop()
        for call in (store.increment("ip:1", ttl=60), store.get("ip:1"), store.delete("ip:1")):
            with pytest.raises(CacheError) as caught:
                await call
            assert caught.value.status == 503
        private_redis.start()
        for _ in range(3):  # a pooled connection from before the restart fails once
            try:
                assert await store.increment("ip:1", ttl=60) == 1
                break
            except CacheError:
                continue
        assert await store.increment("ip:1", ttl=60) == 2
    finally:
        await client.aclose()
