"""``add_routes`` is ``include_router``: the routes sit in the app's list, nothing else differs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

from tiered.app.routes import add_routes


class Item(BaseModel):
    id: int
    name: str


async def tenant(x_tenant: Annotated[str, Header()] = "public") -> str:
    return x_tenant


async def greeting() -> str:
    return "hello"


def build_router() -> APIRouter:
    router = APIRouter(
        prefix="/items",
        tags=["items"],
        dependencies=[Depends(tenant)],
        responses={418: {"description": "A teapot"}},
    )

    @router.get("/{item_id}", response_model=Item, summary="One item")
    async def get_item(
        item_id: Annotated[int, Path(ge=1)], word: Annotated[str, Depends(greeting)]
    ) -> dict[str, Any]:
        return {"id": item_id, "name": word, "ignored": True}

    @router.post("", status_code=201, operation_id="createItem", deprecated=True)
    async def create_item(item: Item, limit: Annotated[int, Query(le=5)] = 1) -> Item:
        return item

    @router.get("/text/plain", response_class=PlainTextResponse, include_in_schema=False)
    async def text() -> str:
        return "plain"

    @router.get("/extra/doc", openapi_extra={"x-internal": True})
    async def extra(x_tenant: Annotated[str, Depends(tenant)]) -> dict[str, str]:
        return {"tenant": x_tenant}

    return router


def app_with(include: Callable[[FastAPI, APIRouter], None]) -> FastAPI:
    app = FastAPI()
    include(app, build_router())
    return app


REQUESTS = [
    ("GET", "/items/3", None),
    ("GET", "/items/0", None),
    ("GET", "/items/abc", None),
    ("POST", "/items", {"id": 1, "name": "a"}),
    ("POST", "/items?limit=9", {"id": 1, "name": "a"}),
    ("POST", "/items", {"id": "x"}),
    ("GET", "/items/text/plain", None),
    ("GET", "/items/extra/doc", None),
    ("PUT", "/items/3", None),
    ("GET", "/nowhere", None),
]


async def responses(app: FastAPI) -> list[tuple[int, str, bytes]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answered = []
        for method, url, body in REQUESTS:
            response = await client.request(method, url, json=body, headers={"x-tenant": "t1"})
            answered.append(
                (response.status_code, response.headers["content-type"], response.content)
            )
        return answered


def test_the_routes_are_in_the_apps_own_list() -> None:
    app = app_with(add_routes)
    paths = {route.path for route in app.router.routes if isinstance(route, APIRoute)}
    assert {"/items/{item_id}", "/items", "/items/text/plain", "/items/extra/doc"} <= paths


def test_the_openapi_document_is_include_routers() -> None:
    assert app_with(add_routes).openapi() == app_with(FastAPI.include_router).openapi()


async def test_every_answer_is_include_routers() -> None:
    assert await responses(app_with(add_routes)) == await responses(
        app_with(FastAPI.include_router)
    )


async def test_dependency_overrides_reach_the_routes() -> None:
    app = app_with(add_routes)

    async def other() -> str:
        return "overridden"

    app.dependency_overrides[greeting] = other
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/items/2")
    assert response.json() == {"id": 2, "name": "overridden"}


@asynccontextmanager
async def router_lifespan(_app: Any) -> AsyncIterator[None]:
    yield


@pytest.mark.parametrize(
    "router",
    [
        pytest.param(APIRouter(on_startup=[lambda: None]), id="event handlers"),
        pytest.param(APIRouter(lifespan=router_lifespan), id="a lifespan"),
    ],
)
def test_a_router_with_a_lifecycle_is_included_as_usual(router: APIRouter) -> None:
    @router.get("/ping")
    async def ping() -> str:
        return "pong"

    app = FastAPI()
    add_routes(app, router)
    assert not any(
        isinstance(route, APIRoute) and route.path == "/ping" for route in app.router.routes
    ), "kept behind include_router, which runs the router's lifecycle"
    assert app.openapi()["paths"]["/ping"]


def test_a_router_holding_another_is_included_as_usual() -> None:
    inner = APIRouter()

    @inner.get("/inner")
    async def inner_route() -> str:
        return "in"

    outer = APIRouter()
    outer.include_router(inner, prefix="/outer")
    app = FastAPI()
    add_routes(app, outer)
    assert app.openapi()["paths"]["/outer/inner"]


async def answers(app: Any, prefix: str = "", **client: Any) -> list[tuple[int, bytes]]:
    transport = httpx.ASGITransport(app=app, **client)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        answered = []
        for method, url, body in REQUESTS:
            response = await http.request(
                method, prefix + url, json=body, headers={"x-tenant": "t1"}
            )
            answered.append((response.status_code, response.content))
        return answered


async def test_behind_a_root_path_every_answer_is_include_routers() -> None:
    expected = await answers(app_with(FastAPI.include_router), "/api", root_path="/api")
    assert await answers(app_with(add_routes), "/api", root_path="/api") == expected
    assert {status for status, _ in expected} != {404}


async def test_the_apps_router_included_elsewhere_still_matches() -> None:
    outer = FastAPI()
    outer.include_router(app_with(add_routes).router, prefix="/v2")
    reference = FastAPI()
    reference.include_router(app_with(FastAPI.include_router).router, prefix="/v2")
    expected = await answers(reference, "/v2")
    assert await answers(outer, "/v2") == expected
    assert expected[0][0] == 200


async def test_a_route_whose_literal_start_differs_runs_no_expression(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    matched: list[str] = []
    original = APIRoute.matches

    def counting(route: APIRoute, scope: Any) -> Any:
        matched.append(route.path)
        return original(route, scope)

    monkeypatch.setattr(APIRoute, "matches", counting)
    app = app_with(add_routes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/items/extra/doc", headers={"x-tenant": "t"})).status_code == 200
    assert "/items/text/plain" not in matched
    assert matched[-1] == "/items/extra/doc"


async def test_without_fastapis_lookup_every_route_is_matched_in_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tiered.app import routes

    expected = await answers(app_with(FastAPI.include_router))
    monkeypatch.setattr(routes, "_included_context", routes._never_shortcut)
    matched: list[str] = []
    original = APIRoute.matches

    def counting(route: APIRoute, scope: Any) -> Any:
        matched.append(route.path)
        return original(route, scope)

    app = app_with(add_routes)
    assert await answers(app) == expected
    monkeypatch.setattr(APIRoute, "matches", counting)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/items/extra/doc", headers={"x-tenant": "t"})).status_code == 200
    assert "/items/text/plain" in matched
