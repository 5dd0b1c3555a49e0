"""What is transient, what counts against a dependency, and how ``Retry-After`` is read."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from tiered.errors import CircuitBreakerOpenError, InvalidInputError
from tiered.resilience import (
    UnsafeDestinationError,
    UpstreamUnavailableError,
    counts_against_dependency,
    is_transient,
    parse_retry_after,
    retry_after_of,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def status_error(status: int, **headers: str) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "https://api.example/thing")
    response = httpx.Response(status, headers=headers, request=request)
    return httpx.HTTPStatusError(f"{status}", request=request, response=response)


TRANSIENT = [
    TimeoutError("timed out"),
    ConnectionRefusedError(111, "refused"),
    ConnectionResetError(104, "reset"),
    httpx.ConnectError("refused"),
    httpx.ConnectTimeout("slow"),
    httpx.ReadTimeout("slow"),
    httpx.ReadError("reset"),
    httpx.RemoteProtocolError("server disconnected"),
    status_error(500),
    status_error(502),
    status_error(503),
    status_error(504),
    status_error(429),
]
PERMANENT: list[BaseException] = [
    status_error(400),
    status_error(401),
    status_error(404),
    status_error(409),
    status_error(422),
    ValueError("bad"),
    KeyError("missing"),
    CircuitBreakerOpenError("open", retry_after=3),
    UnsafeDestinationError("no"),
    httpx.UnsupportedProtocol("ftp"),
    asyncio.CancelledError(),
    KeyboardInterrupt(),
]


@pytest.mark.parametrize("error", TRANSIENT, ids=repr)
def test_transient_errors_are_retried(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize("error", PERMANENT, ids=repr)
def test_permanent_errors_and_cancellation_are_not(error: BaseException) -> None:
    assert not is_transient(error)


@pytest.mark.parametrize(
    ("error", "counts"),
    [
        (status_error(500), True),
        (status_error(503), True),
        (status_error(429), False),
        (status_error(404), False),
        (httpx.ConnectTimeout("slow"), True),
        (RuntimeError("bug in the client library"), True),
        (UpstreamUnavailableError("down"), True),
        (UnsafeDestinationError("refused before leaving"), False),
        (InvalidInputError("caller's fault"), False),
        (CircuitBreakerOpenError("open"), False),
        (asyncio.CancelledError(), False),
    ],
    ids=repr,
)
def test_what_counts_against_a_dependency(error: BaseException, counts: bool) -> None:
    assert counts_against_dependency(error) is counts


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(hours=1), usegmt=True), 0.0),
        ("Thu, 01 Jan 2026 00:00:45 GMT", 45.0),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("٣", None),
        ("", None),
    ],
)
def test_retry_after_takes_seconds_or_an_http_date(value: str, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_retry_after_comes_from_the_response_header() -> None:
    assert retry_after_of(status_error(429, **{"Retry-After": "9"}), NOW) == 9.0
    assert retry_after_of(status_error(503, **{"Retry-After": "2"}), NOW) == 2.0
    assert retry_after_of(status_error(503), NOW) is None
    assert retry_after_of(TimeoutError(), NOW) is None
