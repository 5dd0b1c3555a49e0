"""The limiter on a Redis that goes away: fail open or closed, never a 500, then recover.

Every test runs its own ``redis-server`` on a free port (the shared one is
never stopped, nor its scripts flushed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import pytest_asyncio
import structlog
from fastapi import APIRouter, FastAPI
from redis.asyncio import Redis
from tests.integration.conftest import PrivateRedis

from tiered.app import create_app
from tiered.clock import FrozenClock
from tiered.ratelimit import Outcome, RateLimiter, RedisRateLimitBackend
from tiered.redis_connection import connect_redis
from tiered.settings import AppSettings
from tiered.testing import app_client

pytestmark = pytest.mark.redis

router = APIRouter()


@router.get("/ping")
async def ping() -> dict[str, str]:
    return {"pong": "yes"}


def _app(tmp_path: Path, redis: PrivateRedis, **settings: object) -> FastAPI:
    return create_app(
        AppSettings(
            **{
                "database_url": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
                "redis_url": redis.url,
                "redis_timeout": 0.5,
                "rate_limit_enabled": True,
                "rate_limit_default": "3/hour",
                **settings,
            }
        ),
        title="t",
        routers=[router],
    )


@pytest_asyncio.fixture
async def client(private_redis: PrivateRedis) -> AsyncIterator[Redis]:
    redis = connect_redis(private_redis.url, timeout=0.5)
    try:
        yield redis
    finally:
        await redis.aclose()


async def test_limits_hold_on_redis_and_fail_open_when_it_stops(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    async with app_client(_app(tmp_path, private_redis)) as http:
        statuses = [(await http.get("/ping")).status_code for _ in range(4)]
        private_redis.stop()
        with structlog.testing.capture_logs() as captured:
            during = [await http.get("/ping") for _ in range(5)]
        metrics = (await http.get("/metrics")).text
    assert statuses == [200, 200, 200, 429]
    assert [response.status_code for response in during] == [200] * 5
    assert all(response.headers["ratelimit-policy"] for response in during)
    assert all("ratelimit" not in response.headers for response in during), "state unknown"
    warnings = [entry for entry in captured if entry["event"] == "rate_limiter_unavailable"]
    assert len(warnings) == 1, "logged once, not once per request"
    assert 'rate_limit_decisions_total{outcome="failed_open"} 5.0' in metrics
    assert 'rate_limit_decisions_total{outcome="limited"} 1.0' in metrics


async def test_fail_closed_answers_503_with_retry_after(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    async with app_client(_app(tmp_path, private_redis, rate_limit_fail_open=False)) as http:
        assert (await http.get("/ping")).status_code == 200
        private_redis.stop()
        refused = [await http.get("/ping") for _ in range(3)]
        probe = await http.get("/health/live")
    for response in refused:
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "1"
        body = orjson.loads(response.content)
        assert body["code"] == "RATE_LIMITER_UNAVAILABLE"
        assert body["type"] == "/problems/service-unavailable"
        assert body["request_id"] == response.headers["x-request-id"]
    assert probe.status_code == 200, "liveness does not depend on the limiter"


async def test_a_redis_down_at_startup_is_no_500(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    private_redis.stop()
    async with app_client(_app(tmp_path, private_redis)) as http:
        response = await http.get("/ping")
    assert response.status_code == 200


async def test_the_limiter_recovers_when_redis_comes_back(
    private_redis: PrivateRedis, client: Redis
) -> None:
    clock = FrozenClock()
    backend = RedisRateLimitBackend(client, prefix="t:")
    limiter = RateLimiter({"default": "2/hour"}, backend, clock=clock)
    try:
        assert (await limiter.check("c")).outcome is Outcome.ALLOWED
        private_redis.stop()
        assert (await limiter.check("c")).outcome is Outcome.FAILED_OPEN
        private_redis.start()
        assert (await limiter.check("c")).outcome is Outcome.FAILED_OPEN, "within the cooldown"
        clock.advance(1)
        with structlog.testing.capture_logs() as captured:
            decisions = [await limiter.check("c") for _ in range(3)]
    finally:
        await backend.aclose()
    assert [d.outcome for d in decisions] == [Outcome.ALLOWED, Outcome.ALLOWED, Outcome.LIMITED]
    assert "rate_limiter_recovered" in [entry["event"] for entry in captured]


async def test_a_flushed_script_is_loaded_again(private_redis: PrivateRedis, client: Redis) -> None:
    backend = RedisRateLimitBackend(client, prefix="t:")
    limiter = RateLimiter({"default": "3/hour"}, backend)
    try:
        assert (await limiter.check("c")).states[0].remaining == 2
        await client.script_flush()
        after = await limiter.check("c")
    finally:
        await backend.aclose()
    assert after.outcome is Outcome.ALLOWED
    assert after.states[0].remaining == 1, "state kept, only the script was reloaded"
    assert await client.script_exists(RedisRateLimitBackend(client).script_sha) == [True]


async def test_http_clients_see_the_same_limit_through_a_restart_without_500(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    app = _app(tmp_path, private_redis)
    async with app_client(app) as http:
        await http.get("/ping")
        private_redis.stop()
        private_redis.start()
        responses = [await http.get("/ping") for _ in range(6)]
    assert {response.status_code for response in responses} <= {200, 429}
