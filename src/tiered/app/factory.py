"""``create_app``: a FastAPI application with every tiered foundation wired in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from ipaddress import ip_network

from fastapi import APIRouter, FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from tiered.app.lifespan import Resource, build_lifespan
from tiered.app.routes import add_routes
from tiered.app.state import AppState, app_state
from tiered.cache import CacheMetrics
from tiered.errors import document_problems, install_problem_handlers, problems_router
from tiered.http.body_limit import BodyLimitMiddleware
from tiered.http.docs import install_offline_docs
from tiered.http.listing import validate_listings
from tiered.http.request_context import RequestContextMiddleware
from tiered.http.response_headers import ResponseHeaders
from tiered.observability.health import HealthProbe, health_router
from tiered.observability.metrics import HttpMetrics, metrics_endpoint
from tiered.ratelimit import (
    MemoryRateLimitBackend,
    PrincipalOf,
    RateLimiter,
    RateLimitMetrics,
    RateLimitMiddleware,
    RateSpec,
    RedisRateLimitBackend,
    prepare_rate_limiting,
    validate_route_policies,
)
from tiered.repository.cursor import CursorCodec
from tiered.settings import AppSettings, Environment

__all__ = ["create_app"]

_NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "auto_configure": False,
}


def _probes(request: Request) -> list[HealthProbe]:
    return app_state(request).probes


def _rate_limiter(
    settings: AppSettings, metrics: HttpMetrics, rate_limits: Mapping[str, RateSpec] | None
) -> RateLimiter:
    """In memory, or on the app's Redis client once the lifespan has connected it."""
    policies = {
        "default": settings.rate_limit_default,
        "auth": settings.rate_limit_auth,
        **(rate_limits or {}),
    }
    backend = (
        None
        if settings.redis_url
        else MemoryRateLimitBackend(max_keys=settings.rate_limit_memory_keys)
    )
    return RateLimiter(
        policies,
        backend,
        fail_open=settings.rate_limit_fail_open,
        metrics=RateLimitMetrics(metrics.registry),
    )


def _redis_rate_limits(limiter: RateLimiter, prefix: str, timeout: float) -> Resource:
    @asynccontextmanager
    async def attach(state: AppState) -> AsyncIterator[None]:
        backend = None
        if state.redis is not None:
            backend = RedisRateLimitBackend(state.redis, prefix=prefix, timeout=timeout)
            limiter.backend = backend
        try:
            yield
        finally:
            limiter.backend = None
            if backend is not None:
                await backend.aclose()

    return attach


def create_app(
    settings: AppSettings,
    *,
    title: str | None = None,
    version: str = "0.1.0",
    description: str = "",
    routers: Sequence[APIRouter] = (),
    resources: Sequence[Resource] = (),
    body_limits: Mapping[str, int] | None = None,
    rate_limits: Mapping[str, RateSpec] | None = None,
    rate_limit_principal: PrincipalOf | None = None,
) -> FastAPI:
    """Build the app (titled ``settings.app_name`` unless ``title`` says otherwise).

    The lifespan builds the application cache (``app_state(request).cache``,
    counted on ``/metrics``) unless ``cache_enabled`` turns it off. Every
    ``Listing`` a route depends on is validated here, so a misdeclared
    repository fails at startup, not at its first request; so is every
    policy a route's ``rate_limit(...)`` names. ``rate_limits`` adds named
    policies to ``default`` and ``auth`` (from the settings);
    ``rate_limit_principal`` names the authenticated caller a request counts
    against (else its address). Middleware from outermost to innermost:

    proxy headers (only with trusted proxies) → request context (request id,
    access log, metrics, security headers, ``no-store`` and ``Vary`` for
    credentialed requests, the N+1 guard) → CORS (only with origins) → rate
    limit (unless switched off) → body limit → routes.
    """
    metrics = HttpMetrics()
    limiter = _rate_limiter(settings, metrics, rate_limits)
    limiting = settings.rate_limits_on
    if limiting and settings.redis_url:
        prefix = f"{settings.app_name}:ratelimit:"
        resources = [_redis_rate_limits(limiter, prefix, settings.redis_timeout), *resources]
    app = FastAPI(
        title=title or settings.app_name,
        version=version,
        description=description,
        lifespan=build_lifespan(settings, resources, cache_metrics=CacheMetrics(metrics.registry)),
        docs_url=None,
        redoc_url=None,
        telemetry=None if settings.opentelemetry else _NO_TELEMETRY,
    )
    app.state.metrics = metrics
    app.state.cursor_codec = CursorCodec(settings.cursor_secret.get_secret_value())
    install_problem_handlers(app)
    add_routes(app, health_router(probes=_probes))
    app.add_api_route("/metrics", metrics_endpoint, include_in_schema=False)
    add_routes(app, problems_router())
    for router in routers:
        add_routes(app, router)
    install_offline_docs(app)
    if limiting:
        prepare_rate_limiting(app, limiter)
    else:
        validate_route_policies(app, limiter)
        app.state.rate_limiter = None
    document_problems(app)
    validate_listings(app)

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, limits=body_limits)
    if limiting:
        app.add_middleware(RateLimitMiddleware, limiter=limiter, principal=rate_limit_principal)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "ETag", "Retry-After", "RateLimit", "RateLimit-Policy"],
        )
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        response_headers=ResponseHeaders(),
        statement_threshold=settings.statement_repeat_threshold or None,
        strict_statements=settings.environment is not Environment.PRODUCTION,
    )
    if settings.trusted_proxies:
        # Normalised: uvicorn takes "10.0.0.1/8" (host bits set) for a literal it never matches.
        trusted = [str(ip_network(entry, strict=False)) for entry in settings.trusted_proxies]
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)
    return app
