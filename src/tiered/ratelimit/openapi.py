"""Declare the 429 in the OpenAPI document of every rate-limited operation.

Any limited operation may answer 429; a schema-driven client or fuzzer that
meets an undeclared one reports the API as non-conformant. The example is
rendered by the function that renders the real refusal, for the quotas the
operation really counts against.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI

from tiered.errors.openapi import EXAMPLE_REQUEST_ID
from tiered.errors.problem import PROBLEM_MEDIA_TYPE
from tiered.ratelimit.decision import Decision, Outcome, QuotaSet, QuotaState
from tiered.ratelimit.errors import QuotaExceededError, quota_exceeded_document
from tiered.ratelimit.limiter import DEFAULT_POLICY, RateLimiter
from tiered.ratelimit.middleware import DEFAULT_EXEMPT_PATHS
from tiered.ratelimit.routes import declared_policies

__all__ = ["document_rate_limits"]

_HEADERS: dict[str, dict[str, Any]] = {
    "Retry-After": {
        "description": "Seconds to wait before sending the request again.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "RateLimit-Policy": {
        "description": 'The quotas this request counts against, e.g. `"default";q=100;w=60`.',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'The quota closest to exhaustion, e.g. `"default";r=0;t=12`.',
        "schema": {"type": "string"},
    },
}
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def _example(quotas: QuotaSet) -> dict[str, Any]:
    refused = quotas.quotas[-1]
    states = tuple(
        QuotaState(quota, 0, refused.interval_us / 1e6, float(quota.window))
        if quota is refused
        else QuotaState(quota, quota.limit - 1, 0.0, quota.interval_us / 1e6)
        for quota in quotas.quotas
    )
    error = QuotaExceededError(Decision(Outcome.LIMITED, quotas, states))
    body = quota_exceeded_document(error, instance="", request_id=EXAMPLE_REQUEST_ID)
    example = {"summary": error.message, "value": body}
    return {
        "description": "Too Many Requests",
        "content": {PROBLEM_MEDIA_TYPE: {"examples": {error.code: example}}},
        "headers": {name: dict(doc) for name, doc in _HEADERS.items()},
    }


def document_rate_limits(
    app: FastAPI,
    limiter: RateLimiter,
    *,
    default: Iterable[str] = (DEFAULT_POLICY,),
    exempt: Iterable[str] = DEFAULT_EXEMPT_PATHS,
) -> None:
    """Make ``app.openapi()`` declare a 429 on every operation but the ``exempt`` paths.

    Call it before :func:`tiered.errors.document_problems`, which then gives
    the response the problem schema like every other problem.
    """
    build = app.openapi
    skipped = frozenset(exempt)
    base = tuple(default)

    def openapi() -> dict[str, Any]:
        schema = build()
        by_operation = declared_policies(app.routes)
        for path, item in schema.get("paths", {}).items():
            if path in skipped:
                continue
            for method, operation in item.items():
                if method not in _METHODS:
                    continue
                extra = by_operation.get((method.upper(), path), ())
                quotas = limiter.quota_set([*base, *extra])
                operation.setdefault("responses", {}).setdefault("429", _example(quotas))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
