"""What only the Redis store must show: failures are 503s, and keys are what others see."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import Redis

from tiered.errors import CacheError, ConfigurationError
from tiered.redis_connection import connect_redis
from tiered.store import RedisStore


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


OPERATIONS: dict[str, Callable[[RedisStore], Awaitable[object]]] = {
    "get": lambda store: store.get("k"),
    "set": lambda store: store.set("k", b"v", ttl=1),
    "set_if_absent": lambda store: store.set_if_absent("k", b"v"),
    "increment": lambda store: store.increment("k", ttl=1),
    "delete": lambda store: store.delete("k"),
    "expires_in": lambda store: store.expires_in("k"),
}


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_an_unreachable_server_is_a_cache_error(operation: str) -> None:
    client = connect_redis(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.5)
    try:
        with pytest.raises(CacheError) as caught:
            await OPERATIONS[operation](RedisStore(client))
    finally:
        await client.aclose()
    assert caught.value.status == 503
    assert caught.value.code == "CACHE_UNAVAILABLE"
    assert caught.value.__cause__ is not None


def test_a_client_that_decodes_responses_is_refused() -> None:
    client = Redis.from_url("redis://127.0.0.1:6379/15", decode_responses=True)
    with pytest.raises(ConfigurationError, match="decode_responses"):
        RedisStore(client)


@pytest.mark.redis
async def test_keys_are_prefixed_and_utf8_on_the_server(redis_url: str) -> None:
    client = connect_redis(redis_url)
    prefix = f"tiered-test-store-{uuid.uuid4().hex}"
    store = RedisStore(client, prefix=f"{prefix}:").namespace("limits")
    try:
        await store.increment("ключ\x00", ttl=30)
        raw = f"{prefix}:limits:ключ\x00".encode()
        assert store.redis_key("ключ\x00") == raw
        assert await client.get(raw) == b"1"
        assert 29_000 < await client.pttl(raw) <= 30_000
    finally:
        await client.delete(f"{prefix}:limits:ключ\x00".encode())
        await client.aclose()
