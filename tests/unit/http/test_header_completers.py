"""Layers inside the request context complete response headers through its hook."""

from __future__ import annotations

import httpx
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tiered.http.header_completers import HEADER_COMPLETERS, Header
from tiered.http.request_context import RequestContextMiddleware
from tiered.http.response_headers import ResponseHeaders


def _adding(app: ASGIApp, name: bytes, value: bytes) -> ASGIApp:
    """A layer that adds one header through the hook (and fails loudly without it)."""

    async def layer(scope: Scope, receive: Receive, send: Send) -> None:
        def complete(headers: list[Header]) -> list[Header]:
            return [*headers, (name, value)]

        scope[HEADER_COMPLETERS].append(complete)
        await app(scope, receive, send)

    return layer


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("ok", headers={"x-route": "1"})(scope, receive, send)


async def _fails(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("boom")


async def _get(app: ASGIApp) -> httpx.Response:
    edge = RequestContextMiddleware(app, response_headers=ResponseHeaders())
    transport = httpx.ASGITransport(app=edge, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/")


def _names(response: httpx.Response) -> list[bytes]:
    return [name.lower() for name, _ in response.headers.raw]


async def test_completers_run_in_the_order_they_were_added() -> None:
    response = await _get(_adding(_adding(_ok, b"x-first", b"1"), b"x-second", b"2"))
    names = _names(response)
    assert names.count(b"x-first") == names.count(b"x-second") == 1
    assert names.index(b"x-route") < names.index(b"x-second") < names.index(b"x-first")
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_500_of_an_unhandled_error_is_completed_too() -> None:
    response = await _get(_adding(_fails, b"x-added", b"1"))
    assert response.status_code == 500
    assert response.headers["x-added"] == "1"
    assert response.headers["content-type"] == "application/problem+json"


async def test_each_request_has_its_own_list() -> None:
    seen: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        completers = scope[HEADER_COMPLETERS]
        seen.append(len(completers))
        completers.append(lambda headers: headers)
        await _ok(scope, receive, send)

    edge = RequestContextMiddleware(app, response_headers=ResponseHeaders())
    transport = httpx.ASGITransport(app=edge)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        statuses = [(await client.get("/")).status_code for _ in range(3)]
    assert statuses == [200] * 3
    assert seen == [0, 0, 0]
