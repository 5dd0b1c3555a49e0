"""The Redis backend as production runs it: on the Redis server's clock.

Without an injected clock the script reads ``TIME``, so these assertions are
structural (bounds, not exact values) and use windows long enough that the
milliseconds a test takes cannot refill a request.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from tiered.ratelimit import Outcome, RateLimiter, RedisRateLimitBackend

pytestmark = pytest.mark.redis


@pytest_asyncio.fixture
async def server_clock_backend(redis_client: Redis) -> AsyncIterator[RedisRateLimitBackend]:
    prefix = f"test-ratelimit-{uuid.uuid4().hex}:"
    backend = RedisRateLimitBackend(redis_client, prefix=prefix)
    try:
        yield backend
    finally:
        await backend.aclose()
        keys = [key async for key in redis_client.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis_client.delete(*keys)


async def test_n_pass_then_limited_on_the_server_clock(
    server_clock_backend: RedisRateLimitBackend,
) -> None:
    limiter = RateLimiter({"default": "5/hour"}, server_clock_backend)
    decisions = [await limiter.check("client") for _ in range(6)]
    assert [d.outcome for d in decisions] == [Outcome.ALLOWED] * 5 + [Outcome.LIMITED]
    assert [d.states[0].remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    refused = decisions[-1].states[0]
    interval = 3600 / 5
    assert interval - 5 < refused.retry_after <= interval
    assert 3600 - 5 < refused.reset_after <= 3600
    assert refused.retry_after <= decisions[-1].retry_after_header <= interval


async def test_concurrent_checks_admit_exactly_the_limit_on_the_server_clock(
    server_clock_backend: RedisRateLimitBackend,
) -> None:
    limiter = RateLimiter({"default": "40/hour"}, server_clock_backend)
    decisions = await asyncio.gather(*(limiter.check("hot") for _ in range(200)))
    assert sum(decision.allowed for decision in decisions) == 40


async def test_keys_expire_when_the_allowance_is_full_again(
    server_clock_backend: RedisRateLimitBackend, redis_client: Redis
) -> None:
    limiter = RateLimiter({"default": "10/minute", "auth": "2/hour"}, server_clock_backend)
    await limiter.check("someone", "default", "auth")
    keys = server_clock_backend.keys_for("someone", limiter.quota_set(["default", "auth"]))
    ttls = [await redis_client.pttl(key) for key in keys]
    assert 5_000 < ttls[0] <= 6_000, "one interval of 10/minute"
    assert 1_795_000 < ttls[1] <= 1_800_000, "one interval of 2/hour"


async def test_one_round_trip_per_check(
    server_clock_backend: RedisRateLimitBackend, redis_client: Redis
) -> None:
    limiter = RateLimiter({"default": "10/minute", "auth": "2/hour"}, server_clock_backend)
    await limiter.check("warm-up")
    sent: list[tuple[object, ...]] = []
    channel = server_clock_backend._script
    original = channel._send

    async def counting(parts: Sequence[str | int]) -> object:
        sent.append(tuple(parts))
        return await original(parts)

    channel._send = counting  # type: ignore[method-assign]
    try:
        await limiter.check("someone", "default", "auth")
    finally:
        del channel._send
    assert [command[0] for command in sent] == ["EVALSHA"]
