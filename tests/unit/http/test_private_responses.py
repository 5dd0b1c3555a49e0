"""PrivateResponsesMiddleware: credentialed responses are never stored by a cache."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from starlette.responses import JSONResponse

from tiered.http.private_responses import PrivateResponsesMiddleware


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/cached")
    async def cached() -> JSONResponse:
        return JSONResponse(
            {"ok": True}, headers={"Cache-Control": "max-age=60", "Vary": "Accept-Language"}
        )

    app.add_middleware(PrivateResponsesMiddleware)
    return app


async def _get(headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/cached", headers=headers)


async def test_a_bearer_request_gets_no_store_whatever_the_route_said() -> None:
    response = await _get({"Authorization": "Bearer abc"})
    assert response.headers.get_list("cache-control") == ["no-store"]


async def test_an_api_key_request_gets_no_store() -> None:
    response = await _get({"X-API-Key": "tk_a_b"})
    assert response.headers.get_list("cache-control") == ["no-store"]


async def test_anonymous_requests_keep_the_routes_caching() -> None:
    response = await _get({})
    assert response.headers["cache-control"] == "max-age=60"


async def test_vary_names_the_credentials_once_beside_the_routes_own() -> None:
    response = await _get({})
    assert response.headers.get_list("vary") == ["Accept-Language, Authorization, X-API-Key"]
