"""The 429 problem of a refused request, and the 503 of a limiter that fails closed.

The 429 uses the problem type the IETF RateLimit header fields draft registers,
``https://iana.org/assignments/http-problem-types#quota-exceeded``, with its
``violated-policies`` member (the names of the quotas that refused the
request), so a client written against the draft understands it. Its
documentation page is also served under ``/problems/quota-exceeded``, like
every other problem type of the application.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tiered.errors.hierarchy import ExternalServiceError, RateLimitError
from tiered.errors.problem import ProblemResponse, problem_document
from tiered.http.request_id import request_id_of
from tiered.ratelimit.decision import Decision

__all__ = [
    "QUOTA_EXCEEDED_TYPE",
    "QuotaExceededError",
    "RateLimiterUnavailableError",
    "quota_exceeded_document",
    "quota_exceeded_handler",
]

QUOTA_EXCEEDED_TYPE = "https://iana.org/assignments/http-problem-types#quota-exceeded"


class QuotaExceededError(RateLimitError):
    title = "Quota Exceeded"
    slug = "quota-exceeded"
    description = (
        "The client sent more requests than one or more quota policies allow; "
        "`violated-policies` names them, `Retry-After` says when to try again, and the "
        "`RateLimit` and `RateLimit-Policy` headers describe the quotas. The problem `type` is "
        "the one the IETF RateLimit header fields draft registers: " + QUOTA_EXCEEDED_TYPE + "."
    )

    def __init__(self, decision: Decision, message: str | None = None) -> None:
        violated = decision.violated
        super().__init__(
            message
            or f"Too many requests: quota {', '.join(violated) or 'exceeded'}; "
            f"retry after {decision.retry_after_header} s.",
            details={"violated-policies": list(violated)},
            retry_after=decision.retry_after_header,
        )
        self.decision = decision

    def headers(self) -> dict[str, str]:
        headers = super().headers()
        for name, value in self.decision.header_values():
            headers[name.decode("latin-1")] = value.decode("latin-1")
        return headers


class RateLimiterUnavailableError(ExternalServiceError):
    """The limiter's store is down and the limiter fails closed."""

    code = "RATE_LIMITER_UNAVAILABLE"


def quota_exceeded_document(
    error: QuotaExceededError, *, instance: str, request_id: str | None
) -> dict[str, Any]:
    body = problem_document(error, instance=instance, request_id=request_id)
    body["type"] = QUOTA_EXCEEDED_TYPE
    return body


async def quota_exceeded_handler(request: Request, exc: Exception) -> Response:
    """Render a :class:`QuotaExceededError` raised inside a route (by ``rate_limit``)."""
    assert isinstance(exc, QuotaExceededError)
    body = quota_exceeded_document(
        exc, instance=request.url.path, request_id=request_id_of(request.scope)
    )
    return ProblemResponse(body, status_code=exc.status, headers=exc.headers())
