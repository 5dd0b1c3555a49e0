"""``create_app``: a FastAPI application with every tiered foundation wired in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import APIRouter, FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from tiered.app.lifespan import Resource, build_lifespan
from tiered.app.state import app_state
from tiered.errors import document_problems, install_problem_handlers, problems_router
from tiered.http.body_limit import BodyLimitMiddleware
from tiered.http.docs import install_offline_docs
from tiered.http.listing import validate_listings
from tiered.http.request_context import RequestContextMiddleware
from tiered.http.security_headers import SecurityHeadersMiddleware
from tiered.http.statement_guard import StatementGuardMiddleware
from tiered.observability.health import HealthProbe, health_router
from tiered.observability.metrics import HttpMetrics, metrics_endpoint
from tiered.repository.cursor import CursorCodec
from tiered.settings import AppSettings, Environment

__all__ = ["create_app"]


def _probes(request: Request) -> list[HealthProbe]:
    return app_state(request).probes


def create_app(
    settings: AppSettings,
    *,
    title: str | None = None,
    version: str = "0.1.0",
    description: str = "",
    routers: Sequence[APIRouter] = (),
    resources: Sequence[Resource] = (),
    body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """Build the app (titled ``settings.app_name`` unless ``title`` says otherwise).

    Every ``Listing`` a route depends on is validated here, so a misdeclared
    repository fails at startup, not at its first request. Middleware from
    outermost to innermost:

    proxy headers (only with trusted proxies) → security headers → request
    context → CORS (only with origins) → body limit → N+1 guard → routes.
    """
    app = FastAPI(
        title=title or settings.app_name,
        version=version,
        description=description,
        lifespan=build_lifespan(settings, resources),
        docs_url=None,
        redoc_url=None,
    )
    metrics = HttpMetrics()
    app.state.metrics = metrics
    app.state.cursor_codec = CursorCodec(settings.cursor_secret.get_secret_value())
    install_problem_handlers(app)
    app.include_router(health_router(probes=_probes))
    app.add_api_route("/metrics", metrics_endpoint, include_in_schema=False)
    app.include_router(problems_router())
    for router in routers:
        app.include_router(router)
    install_offline_docs(app)
    document_problems(app)
    validate_listings(app)

    if settings.statement_repeat_threshold:
        app.add_middleware(
            StatementGuardMiddleware,
            threshold=settings.statement_repeat_threshold,
            strict=settings.environment is not Environment.PRODUCTION,
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, limits=body_limits)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "ETag", "Retry-After"],
        )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    return app
