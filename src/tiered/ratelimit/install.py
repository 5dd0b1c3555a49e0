"""Rate limiting on an application that ``create_app`` did not build (it does all this itself)."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI

from tiered.ratelimit.errors import QuotaExceededError, quota_exceeded_handler
from tiered.ratelimit.keys import PrincipalOf
from tiered.ratelimit.limiter import DEFAULT_POLICY, RateLimiter
from tiered.ratelimit.middleware import DEFAULT_EXEMPT_PATHS, RateLimitMiddleware
from tiered.ratelimit.openapi import document_rate_limits
from tiered.ratelimit.routes import declared_policies

__all__ = ["install_rate_limiting", "prepare_rate_limiting", "validate_route_policies"]


def validate_route_policies(app: FastAPI, limiter: RateLimiter) -> None:
    """Fail at startup, not at the first request, when a route names an unknown policy."""
    for names in declared_policies(app.routes).values():
        limiter.quota_set(names)


def prepare_rate_limiting(
    app: FastAPI,
    limiter: RateLimiter,
    *,
    default: Iterable[str] = (DEFAULT_POLICY,),
    exempt: Iterable[str] = DEFAULT_EXEMPT_PATHS,
) -> None:
    """Everything but the middleware: the limiter in ``app.state``, the 429 handler, the docs.

    Call it after the routes are included and before
    :func:`tiered.errors.document_problems`.
    """
    validate_route_policies(app, limiter)
    app.state.rate_limiter = limiter
    app.add_exception_handler(QuotaExceededError, quota_exceeded_handler)
    document_rate_limits(app, limiter, default=default, exempt=exempt)


def install_rate_limiting(
    app: FastAPI,
    limiter: RateLimiter,
    *,
    principal: PrincipalOf | None = None,
    default: Iterable[str] = (DEFAULT_POLICY,),
    exempt: Iterable[str] = DEFAULT_EXEMPT_PATHS,
) -> None:
    """:func:`prepare_rate_limiting`, then the middleware, outside what is already added."""
    default, exempt = tuple(default), tuple(exempt)
    prepare_rate_limiting(app, limiter, default=default, exempt=exempt)
    app.add_middleware(
        RateLimitMiddleware, limiter=limiter, principal=principal, default=default, exempt=exempt
    )
