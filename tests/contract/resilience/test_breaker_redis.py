"""What only the Redis breaker backend does: the server's clock and key expiry."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from tests.contract.resilience.conftest import POLICY

from tiered.redis_connection import connect_redis
from tiered.resilience import BreakerState, RedisBreakerBackend, Verdict

pytestmark = pytest.mark.redis


@pytest.fixture
def prefix() -> str:
    return f"tiered-test-breaker-{uuid.uuid4().hex}:"


@pytest_asyncio.fixture
async def client(redis_url: str, prefix: str) -> AsyncIterator[Redis]:
    redis = connect_redis(redis_url, timeout=10)
    try:
        yield redis
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def _fail(backend: RedisBreakerBackend, times: int) -> None:
    for _ in range(times):
        admission = await backend.acquire("dep", POLICY, uuid.uuid4().hex)
        assert admission.verdict is Verdict.CALL
        await backend.record("dep", POLICY, admission, failed=True)


async def test_on_the_server_clock_an_open_breaker_waits_out_its_recovery(
    client: Redis, prefix: str
) -> None:
    backend = RedisBreakerBackend(client, prefix=prefix)
    await _fail(backend, 4)
    rejected = await backend.acquire("dep", POLICY, uuid.uuid4().hex)
    assert rejected.verdict is Verdict.REJECT
    assert 0 < rejected.retry_after <= POLICY.recovery_time
    snapshot = await backend.snapshot("dep", POLICY)
    assert snapshot.state is BreakerState.OPEN
    assert 0 < snapshot.retry_after <= POLICY.recovery_time


async def test_a_closed_breaker_expires_when_idle_an_open_one_does_not(
    client: Redis, prefix: str
) -> None:
    backend = RedisBreakerBackend(client, prefix=prefix)
    await _fail(backend, 3)
    idle = await client.pttl(backend.key("dep"))
    assert 0 < idle <= 2 * POLICY.window * 1000
    await _fail(backend, 1)
    assert await client.pttl(backend.key("dep")) == -1
    assert await client.hget(backend.key("dep"), "state") == b"open"
