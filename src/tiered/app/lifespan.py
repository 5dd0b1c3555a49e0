"""Start-up and shut-down, in a fixed order.

logging → database → Redis (only if configured) → cache → application
resources → ready; stopped in reverse by an ``AsyncExitStack``, so a resource
that failed to start never leaves the ones before it open.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from functools import partial

from fastapi import FastAPI
from redis.asyncio import Redis

from tiered.app.state import AppState
from tiered.cache import (
    Cache,
    CacheBackend,
    CacheMetrics,
    MemoryCacheBackend,
    RedisCacheBackend,
    TwoLevelCacheBackend,
)
from tiered.db.engine import Database
from tiered.observability.health import HealthProbe, check_health
from tiered.observability.logging import configure_logging, get_logger
from tiered.redis_connection import connect_redis, ping_redis
from tiered.settings import AppSettings, CacheBackendKind

__all__ = ["Resource", "build_lifespan"]

Resource = Callable[[AppState], AbstractAsyncContextManager[None]]
"""An application resource (job worker, outbox relay…) started after the core."""

_log = get_logger("tiered.lifecycle")


async def _announce(probes: list[HealthProbe]) -> None:
    """Start even when a dependency is down (readiness reports it), but say so."""
    report = await check_health(probes)
    for name, status in report.checks.items():
        if status != "ok":
            _log.warning("dependency_unavailable_at_startup", dependency=name)


def _cache_backend(settings: AppSettings, redis: Redis | None) -> CacheBackend:
    kind = settings.cache_kind
    if redis is None or kind is CacheBackendKind.MEMORY:
        return MemoryCacheBackend(max_keys=settings.cache_max_local_keys)
    if kind is CacheBackendKind.REDIS:
        return RedisCacheBackend(redis, namespace=settings.cache_redis_namespace)
    return TwoLevelCacheBackend(
        redis,
        namespace=settings.cache_redis_namespace,
        local_ttl=settings.cache_local_ttl,
        max_local_keys=settings.cache_max_local_keys,
    )


async def _start_cache(
    settings: AppSettings, redis: Redis | None, metrics: CacheMetrics | None
) -> Cache:
    """The cache, its change feed subscribed (waiting no longer than a Redis command may).

    A Redis that is down at startup delays nothing further: the feed keeps
    trying in the background, and the cache serves from the source meanwhile.
    """
    backend = _cache_backend(settings, redis)
    cache = Cache(backend, ttl=settings.cache_ttl, metrics=metrics)
    if isinstance(backend, RedisCacheBackend | TwoLevelCacheBackend):
        await backend.start(wait=settings.redis_timeout)
    return cache


def _freeze_startup_objects(stack: AsyncExitStack) -> None:
    """Move every object made so far to the collector's permanent generation until shutdown.

    A full collection walks every tracked object: with the app, its routes,
    SQLAlchemy and pydantic loaded that is some 180,000, a pause of about
    100 ms that a busy server pays every few seconds, all of it for objects
    that live as long as the process. Frozen, they are skipped; what requests
    make is collected as before. Nothing is collected first (a full pass would
    cost every start, and every test, that pause): the little garbage of startup
    waits for shutdown, which unfreezes, so that an app started and stopped
    many times in one process (tests) leaves nothing behind.
    """
    gc.freeze()
    stack.callback(gc.unfreeze)


def build_lifespan(
    settings: AppSettings,
    resources: Sequence[Resource] = (),
    *,
    cache_metrics: CacheMetrics | None = None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(level=settings.log_level, json=settings.logs_as_json)
        async with AsyncExitStack() as stack:
            database = Database.from_settings(settings)
            stack.push_async_callback(database.dispose)
            state = AppState(settings=settings, database=database)
            timeout = settings.health_check_timeout
            state.probes.append(HealthProbe("database", database.ping, timeout))
            if settings.redis_url:
                redis = connect_redis(settings.redis_url, timeout=settings.redis_timeout)
                stack.push_async_callback(redis.aclose)
                state.redis = redis
                state.probes.append(HealthProbe("redis", partial(ping_redis, redis), timeout))
            if settings.cache_on:
                state.cache = await _start_cache(settings, state.redis, cache_metrics)
                stack.push_async_callback(state.cache.aclose)
            await _announce(state.probes)
            app.state.tiered = state
            for resource in resources:
                await stack.enter_async_context(resource(state))
            if settings.gc_freeze:
                _freeze_startup_objects(stack)
            _log.info("ready", app=settings.app_name, environment=settings.environment.value)
            try:
                yield
            finally:
                _log.info("stopping", app=settings.app_name)
        _log.info("stopped", app=settings.app_name)

    return lifespan
