"""ResponseHeaders: security headers everywhere; credentialed responses never stored."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import Receive, Scope, Send

from tiered.http.request_context import RequestContextMiddleware
from tiered.http.response_headers import DEFAULT_SECURITY_HEADERS, HSTS_HEADER, ResponseHeaders


def _app(route_headers: Mapping[str, str] | None = None) -> FastAPI:
    app = FastAPI()

    @app.get("/cached")
    async def cached() -> JSONResponse:
        return JSONResponse(
            {"ok": True}, headers={"Cache-Control": "max-age=60", "Vary": "Accept-Language"}
        )

    @app.get("/plain")
    async def plain() -> PlainTextResponse:
        return PlainTextResponse("ok", headers=dict(route_headers or {}))

    app.add_middleware(RequestContextMiddleware, response_headers=ResponseHeaders())
    return app


async def _get(
    path: str,
    headers: Mapping[str, str] | None = None,
    *,
    app: FastAPI | None = None,
    base_url: str = "http://test",
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app or _app())
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        return await client.get(path, headers=dict(headers or {}))


async def test_a_bearer_request_gets_no_store_whatever_the_route_said() -> None:
    response = await _get("/cached", {"Authorization": "Bearer abc"})
    assert response.headers.get_list("cache-control") == ["no-store"]


async def test_an_api_key_request_gets_no_store() -> None:
    response = await _get("/cached", {"X-API-Key": "tk_a_b"})
    assert response.headers.get_list("cache-control") == ["no-store"]


async def test_a_credentialed_request_to_a_route_without_caching_gets_no_store() -> None:
    response = await _get("/plain", {"Authorization": "Bearer abc"})
    assert response.headers.get_list("cache-control") == ["no-store"]
    assert response.headers.get_list("vary") == ["Authorization, X-API-Key"]


async def test_anonymous_requests_keep_the_routes_caching() -> None:
    response = await _get("/cached")
    assert response.headers.get_list("cache-control") == ["max-age=60"]


async def test_vary_names_the_credentials_once_beside_the_routes_own() -> None:
    response = await _get("/cached")
    assert response.headers.get_list("vary") == ["Accept-Language, Authorization, X-API-Key"]


async def test_a_routes_vary_naming_a_credential_is_not_repeated() -> None:
    app = _app({"Vary": "authorization, Accept"})
    response = await _get("/plain", app=app)
    assert response.headers.get_list("vary") == ["authorization, Accept, X-API-Key"]


async def test_every_response_gets_the_security_headers_once() -> None:
    response = await _get("/plain")
    for name, value in DEFAULT_SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value]
    assert HSTS_HEADER[0] not in response.headers


async def test_a_security_header_the_route_set_is_kept_and_not_doubled() -> None:
    app = _app({"Content-Security-Policy": "default-src 'self'"})
    response = await _get("/plain", app=app)
    assert response.headers.get_list("content-security-policy") == ["default-src 'self'"]
    assert response.headers.get_list("x-frame-options") == ["DENY"]
    assert response.headers.get_list("vary") == ["Authorization, X-API-Key"]


@pytest.mark.parametrize("authorization", [False, True])
async def test_hsts_only_over_https(authorization: bool) -> None:
    headers = {"Authorization": "Bearer abc"} if authorization else {}
    response = await _get("/plain", headers, base_url="https://test")
    assert response.headers.get_list(HSTS_HEADER[0]) == [HSTS_HEADER[1]]
    assert ("no-store" in response.headers.get_list("cache-control")) is authorization


async def test_a_raw_asgi_apps_capitalised_headers_are_recognised() -> None:
    async def raw(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"Vary", b"Accept"), (b"X-Frame-Options", b"SAMEORIGIN")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    transport = httpx.ASGITransport(
        app=RequestContextMiddleware(raw, response_headers=ResponseHeaders())
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/")
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers.get_list("vary") == ["Accept, Authorization, X-API-Key"]


async def test_no_credential_headers_means_no_vary_of_ours() -> None:
    app = FastAPI()

    @app.get("/plain")
    async def plain() -> PlainTextResponse:
        return PlainTextResponse("ok", headers={"Vary": "Accept"})

    app.add_middleware(
        RequestContextMiddleware, response_headers=ResponseHeaders(credential_headers=())
    )
    response = await _get("/plain", {"Authorization": "Bearer abc"}, app=app)
    assert response.headers.get_list("vary") == ["Accept"]
    assert "cache-control" not in response.headers
