"""Apps built by ``create_app`` with rate limiting on, and clients with chosen addresses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI

from tiered.app import create_app
from tiered.clock import FrozenClock
from tiered.ratelimit import MemoryRateLimitBackend, RateLimiter, rate_limit
from tiered.settings import AppSettings

ClientFor = Callable[..., httpx.AsyncClient]

router = APIRouter()


@router.get("/ping")
async def ping() -> dict[str, str]:
    return {"pong": "yes"}


@router.post("/login", dependencies=[rate_limit("auth")])
async def login() -> dict[str, str]:
    return {"token": "t"}


@router.get("/search/{term}", dependencies=[rate_limit("search")])
async def search(term: str) -> dict[str, str]:
    return {"term": term}


def limiter_of(app: FastAPI) -> RateLimiter:
    limiter = app.state.rate_limiter
    assert isinstance(limiter, RateLimiter)
    return limiter


def freeze(app: FastAPI) -> FrozenClock:
    """Swap the app's in-memory store for one on a frozen clock: exact header values."""
    clock = FrozenClock()
    limiter_of(app).backend = MemoryRateLimitBackend(clock=clock)
    return clock


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., FastAPI]:
    def make(*, routers: tuple[APIRouter, ...] = (router,), **options: Any) -> FastAPI:
        create_options = {
            name: options.pop(name)
            for name in ("rate_limits", "rate_limit_principal")
            if name in options
        }
        settings = AppSettings(
            **{
                "database_url": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
                "rate_limit_enabled": True,
                "rate_limit_default": "5/minute",
                "rate_limit_auth": "2/minute",
                **options,
            }
        )
        return create_app(
            settings,
            title="t",
            routers=list(routers),
            rate_limits=create_options.get("rate_limits", {"search": "3/minute"}),
            rate_limit_principal=create_options.get("rate_limit_principal"),
        )

    return make


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[ClientFor]:
    """``client(host)`` speaks to the running app from ``host`` (the ASGI ``client``)."""
    async with LifespanManager(app) as manager:
        opened: list[httpx.AsyncClient] = []

        def client(host: str = "198.51.100.7") -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=manager.app, client=(host, 40000))
            http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
            opened.append(http)
            return http

        try:
            yield client
        finally:
            for http in opened:
                await http.aclose()


def raw(response: httpx.Response, name: bytes) -> list[bytes]:
    """Every value of header ``name``, as sent (not joined)."""
    return [value for key, value in response.headers.raw if key.lower() == name]
