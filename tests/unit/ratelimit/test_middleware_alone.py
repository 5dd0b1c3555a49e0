"""The rate-limit layer on an app without the request context: it adds its fields itself."""

from __future__ import annotations

import httpx
import orjson
from fastapi import FastAPI
from tests.unit.ratelimit.conftest import raw

from tiered.clock import FrozenClock
from tiered.ratelimit import (
    QUOTA_EXCEEDED_TYPE,
    MemoryRateLimitBackend,
    RateLimiter,
    install_rate_limiting,
    rate_limit,
)


def _app() -> tuple[FastAPI, RateLimiter]:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {}

    limiter = RateLimiter(
        {"default": "5/minute", "auth": "2/minute"}, MemoryRateLimitBackend(clock=FrozenClock())
    )
    install_rate_limiting(app, limiter)
    return app, limiter


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 1))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_an_admitted_response_carries_each_field_once() -> None:
    app, _ = _app()
    async with _client(app) as http:
        first = await http.get("/ping")
        second = await http.get("/ping")
    assert raw(first, b"ratelimit-policy") == [b'"default";q=5;w=60']
    assert raw(first, b"ratelimit") == [b'"default";r=4;t=12']
    assert raw(second, b"ratelimit") == [b'"default";r=3;t=24']


async def test_a_late_routes_decision_is_merged_into_one_field_each() -> None:
    app, limiter = _app()
    async with _client(app) as http:
        await http.get("/ping")

        @app.post("/late", dependencies=[rate_limit("auth")])
        async def late() -> dict[str, str]:
            return {}

        limiter.on_routes_changed.clear()  # keep the layer blind to /late
        admitted = await http.post("/late")
        await http.post("/late")
        refused = await http.post("/late")
    policy = [b'"default";q=5;w=60, "auth";q=2;w=60']
    assert raw(admitted, b"ratelimit-policy") == policy
    assert raw(admitted, b"ratelimit") == [b'"auth";r=1;t=30']
    assert refused.status_code == 429
    assert orjson.loads(refused.content)["type"] == QUOTA_EXCEEDED_TYPE
    assert raw(refused, b"ratelimit-policy") == policy
    assert raw(refused, b"ratelimit") == [b'"auth";r=0;t=60']
