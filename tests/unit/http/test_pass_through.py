"""Layers hand a request they let by straight to the app: no coroutine of their own."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from tiered.clock import FrozenClock
from tiered.http.body_limit import BodyLimitMiddleware
from tiered.idempotency.middleware import IdempotencyMiddleware
from tiered.ratelimit import MemoryRateLimitBackend, RateLimiter, RateLimitMiddleware


class Inner:
    """An app that returns its own awaitable, so that the test can recognise it."""

    def __init__(self) -> None:
        self.returned: list[Awaitable[None]] = []

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        async def run() -> None:
            return None

        awaitable = run()
        self.returned.append(awaitable)
        return awaitable


def _rate_limit(app: ASGIApp) -> ASGIApp:
    limiter = RateLimiter({"default": "5/minute"}, MemoryRateLimitBackend(clock=FrozenClock()))
    return RateLimitMiddleware(app, limiter=limiter)


def _body_limit(app: ASGIApp) -> ASGIApp:
    return BodyLimitMiddleware(app, max_bytes=1024)


def _scope(**fields: Any) -> Scope:
    return {"type": "http", "method": "GET", "path": "/x", "headers": [], **fields}


async def _receive() -> Any:
    return {"type": "http.disconnect"}


async def _send(_: Any) -> None:
    return None


@pytest.mark.parametrize(
    ("layer", "scope"),
    [
        (_rate_limit, _scope(path="/health/live")),
        (_rate_limit, {"type": "lifespan"}),
        (_body_limit, _scope(method="GET")),
        (_body_limit, _scope(method="OPTIONS")),
        (IdempotencyMiddleware, _scope(method="POST")),
    ],
)
async def test_a_request_let_by_gets_the_apps_own_awaitable(layer: Any, scope: Scope) -> None:
    inner = Inner()
    returned = layer(inner)(scope, _receive, _send)
    assert inner.returned == [returned]
    await returned


@pytest.mark.parametrize(
    ("layer", "scope"),
    [
        (_body_limit, _scope(method="POST")),
        (IdempotencyMiddleware, _scope(method="POST", headers=[(b"idempotency-key", b"k")])),
        (_rate_limit, _scope(client=("198.51.100.7", 1))),
    ],
)
async def test_a_request_it_concerns_goes_through_the_layer(layer: Any, scope: Scope) -> None:
    inner = Inner()
    returned = layer(inner)(scope, _receive, _send)
    assert inner.returned == [], "the layer's own coroutine calls the app when awaited"
    await returned
    assert len(inner.returned) == 1
