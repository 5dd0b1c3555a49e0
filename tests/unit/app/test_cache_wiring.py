"""The application cache: built by the lifespan from the settings, counted on ``/metrics``."""

from __future__ import annotations

import uuid
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from pydantic import ValidationError
from redis.asyncio import Redis

from tiered.app import AppState, app_state, create_app
from tiered.cache import MemoryCacheBackend, RedisCacheBackend, TwoLevelCacheBackend
from tiered.errors import ConfigurationError
from tiered.settings import AppSettings, CacheBackendKind
from tiered.testing import app_client

State = Annotated[AppState, Depends(app_state)]


def counting_app(settings: AppSettings, loads: list[str]) -> FastAPI:
    """An app whose one route reads through the application cache."""
    router = APIRouter()

    @router.get("/value/{name}")
    async def value(name: str, state: State) -> dict[str, str]:
        async def load() -> str:
            loads.append(name)
            return name.upper()

        assert state.cache is not None
        return {"value": await state.cache.get_or_set(f"value:{name}", load)}

    return create_app(settings, title="t", routers=[router])


async def test_the_test_environment_runs_without_a_cache(sqlite_url: str) -> None:
    app = create_app(AppSettings(database_url=sqlite_url), title="t")
    async with app_client(app):
        assert app.state.tiered.cache is None


async def test_without_redis_the_cache_is_in_memory_and_counted(sqlite_url: str) -> None:
    loads: list[str] = []
    settings = AppSettings(database_url=sqlite_url, cache_enabled=True, cache_ttl=42)
    app = counting_app(settings, loads)
    async with app_client(app) as client:
        cache = app.state.tiered.cache
        assert isinstance(cache.backend, MemoryCacheBackend)
        assert cache.default_ttl == 42
        for _ in range(3):
            assert (await client.get("/value/rain")).json() == {"value": "RAIN"}
        metrics = (await client.get("/metrics")).text
    assert loads == ["rain"]
    assert 'cache_hits_total{cache="default"} 2.0' in metrics
    assert 'cache_misses_total{cache="default"} 1.0' in metrics


def test_the_cache_is_on_outside_tests_unless_switched_off() -> None:
    assert AppSettings(environment="dev").cache_on
    assert not AppSettings(environment="dev", cache_enabled=False).cache_on
    assert not AppSettings(environment="test").cache_on
    assert AppSettings(environment="test", cache_enabled=True).cache_on


def test_auto_means_two_level_with_redis_and_memory_without() -> None:
    with_redis = AppSettings(redis_url="redis://127.0.0.1:6379/0", environment="test")
    assert with_redis.cache_kind is CacheBackendKind.TWO_LEVEL
    assert AppSettings(environment="test").cache_kind is CacheBackendKind.MEMORY
    memory = AppSettings(environment="test", redis_url="redis://h/0", cache_backend="memory")
    assert memory.cache_kind is CacheBackendKind.MEMORY


@pytest.mark.parametrize("kind", ["redis", "two-level"])
def test_a_redis_cache_without_redis_is_refused(kind: str) -> None:
    with pytest.raises(ConfigurationError, match=r"CACHE_BACKEND=.* needs REDIS_URL"):
        AppSettings(environment="test", cache_backend=kind)


def test_the_namespace_defaults_to_the_app_and_refuses_colons() -> None:
    assert AppSettings(environment="test", app_name="a:b").cache_redis_namespace == "a-b-cache"
    assert AppSettings(environment="test", cache_namespace="x").cache_redis_namespace == "x"
    with pytest.raises(ValidationError):
        AppSettings(environment="test", cache_namespace="x:y")


@pytest.mark.redis
@pytest.mark.parametrize(
    ("kind", "backend_type"),
    [("auto", TwoLevelCacheBackend), ("redis", RedisCacheBackend), ("memory", MemoryCacheBackend)],
)
async def test_with_redis_the_cache_follows_its_backend_setting(
    sqlite_url: str, redis_url: str, kind: str, backend_type: type[object]
) -> None:
    loads: list[str] = []
    namespace = f"tiered-test-wiring-{uuid.uuid4().hex}"
    settings = AppSettings(
        database_url=sqlite_url,
        redis_url=redis_url,
        cache_enabled=True,
        cache_backend=kind,
        cache_namespace=namespace,
    )
    app = counting_app(settings, loads)
    client = Redis.from_url(redis_url)
    try:
        async with app_client(app) as http:
            backend = app.state.tiered.cache.backend
            assert isinstance(backend, backend_type)
            remote = backend.remote if isinstance(backend, TwoLevelCacheBackend) else backend
            subscribed = isinstance(remote, RedisCacheBackend)
            assert subscribed is (kind != "memory")
            if isinstance(remote, RedisCacheBackend):
                assert remote.feed.connected  # subscribed during startup
            assert (await http.get("/value/snow")).json() == {"value": "SNOW"}
            assert (await http.get("/value/snow")).json() == {"value": "SNOW"}
        stored = [key async for key in client.scan_iter(match=f"{namespace}:*")]
        assert loads == ["snow"]
        assert bool(stored) is (kind != "memory")
        if isinstance(remote, RedisCacheBackend):
            assert not remote.feed.connected  # closed with the app
    finally:
        keys = [key async for key in client.scan_iter(match=f"{namespace}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
