"""Which failures are worth retrying, which count against a dependency, and for how long to wait.

Retrying is only useful when the next attempt can succeed without anyone
changing anything: a timeout, a refused or reset connection, a 5xx, a 429.
A 4xx other than 429 says the request itself is wrong, and a refused
destination or an open circuit will say the same thing again at once, so
those fail on the first attempt. ``asyncio.CancelledError`` (and every other
``BaseException``) is never retried: a cancelled task must stop.

A circuit breaker asks a different question: did the *dependency* fail? A
429 is a healthy service protecting itself, and a 4xx is the caller's fault,
so neither opens a circuit; a 5xx, a timeout or any unexpected exception does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from tiered.errors.hierarchy import AppError, CircuitBreakerOpenError

__all__ = [
    "TRANSIENT_ERRORS",
    "counts_against_dependency",
    "is_transient",
    "is_transient_status",
    "parse_retry_after",
    "retry_after_of",
]

TOO_MANY_REQUESTS = 429
_SERVER_ERROR = 500

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    TimeoutError,
    ConnectionError,
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)
"""Errors of the network, not of the request: the same request may succeed next time."""


def is_transient_status(status: int) -> bool:
    """5xx and 429: the server may answer differently to the very same request."""
    return status >= _SERVER_ERROR or status == TOO_MANY_REQUESTS


def is_transient(error: BaseException) -> bool:
    """Whether the same call may succeed if simply made again (the default retry predicate)."""
    if not isinstance(error, Exception) or isinstance(error, CircuitBreakerOpenError):
        return False
    if isinstance(error, httpx.HTTPStatusError):
        return is_transient_status(error.response.status_code)
    return isinstance(error, TRANSIENT_ERRORS)


def counts_against_dependency(error: BaseException) -> bool:
    """Whether ``error`` is the dependency's failure (the default circuit-breaker predicate).

    Client errors are not: an HTTP 4xx (429 included) or an ``AppError`` below
    500 means the dependency answered, or the call never reached it.
    """
    if not isinstance(error, Exception):
        return False
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code >= _SERVER_ERROR
    if isinstance(error, AppError):
        return error.status >= _SERVER_ERROR and not isinstance(error, CircuitBreakerOpenError)
    return True


def parse_retry_after(value: str, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` value asks for (delta-seconds or HTTP-date); ``None`` if invalid.

    A date in the past means "now" (0). An unparseable value is ignored, so the
    caller falls back to its own backoff instead of trusting garbage.
    """
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def retry_after_of(error: BaseException, now: datetime) -> float | None:
    """The wait an HTTP 429 or 503 asked for in its ``Retry-After`` header, if any."""
    if not isinstance(error, httpx.HTTPStatusError):
        return None
    header = error.response.headers.get("retry-after")
    if header is None:
        return None
    return parse_retry_after(header, now)
