"""HEAD answers wherever GET does (RFC 9110 §9.3.2): same status and headers, no body."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Response
from starlette.types import Message

from tiered.app import create_app
from tiered.settings import AppSettings
from tiered.testing import app_client

items = APIRouter()


@items.post("/items", status_code=201)
async def create_item() -> dict[str, str]:
    return {"created": "yes"}


@items.get("/items", summary="List items")
async def list_items(response: Response) -> list[int]:
    response.headers["ETag"] = '"items-v1"'
    return [1, 2, 3]


@items.get("/items/{item_id}")
async def read_item(item_id: int) -> dict[str, int]:
    return {"id": item_id}


@items.post("/orders")
async def place_order() -> dict[str, bool]:
    return {"placed": True}


@items.get("/probe")
async def probe_get() -> dict[str, str]:
    return {"via": "get"}


@items.head("/probe")
async def probe_head(response: Response) -> None:
    response.headers["X-Probe"] = "head"


api = APIRouter(prefix="/api")
api.include_router(items, prefix="/v1")

# Every GET a create_app application serves out of the box, plus routes of the app.
GET_PATHS = (
    "/api/v1/items",
    "/api/v1/items/7",
    "/health/live",
    "/health/ready",
    "/problems",
    "/problems/not-found",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/_docs-assets/swagger-ui.css",
    "/_docs-assets/redoc.standalone.js",
    "/",
)
VARYING_HEADERS = {"x-request-id", "date"}


@pytest.fixture
async def app(sqlite_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(AppSettings(database_url=sqlite_url), title="t", routers=[api])
    async with app_client(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def raw_request(app: FastAPI, method: str, path: str) -> list[Message]:
    """The ASGI messages the app sends, before any server or client drops a HEAD body."""
    sent: list[Message] = []
    received = False

    async def receive() -> Message:
        nonlocal received
        if received:
            return {"type": "http.disconnect"}
        received = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    return sent


def comparable(headers: httpx.Headers) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name not in VARYING_HEADERS}


@pytest.mark.parametrize("path", GET_PATHS)
async def test_head_has_the_status_and_headers_of_get(client: httpx.AsyncClient, path: str) -> None:
    get = await client.get(path)
    head = await client.head(path)

    assert head.status_code == get.status_code
    assert get.status_code in (200, 307), path
    assert comparable(head.headers) == comparable(get.headers)
    assert head.headers["x-request-id"]


@pytest.mark.parametrize("path", GET_PATHS)
async def test_head_sends_no_body(app: FastAPI, path: str) -> None:
    messages = await raw_request(app, "HEAD", path)

    start, *bodies = messages
    assert start["type"] == "http.response.start"
    assert start["status"] in (200, 307)
    assert bodies
    assert all(message["body"] == b"" for message in bodies)
    assert bodies[-1].get("more_body", False) is False


async def test_head_of_metrics_is_counted_as_head(client: httpx.AsyncClient) -> None:
    assert (await client.head("/api/v1/items/3")).status_code == 200

    text = (await client.get("/metrics")).text
    assert 'http_requests_total{method="HEAD",route="/api/v1/items/{item_id}",status="200"}' in text
    assert 'method="GET",route="/api/v1/items/{item_id}"' not in text


async def test_head_of_a_get_behind_a_post_on_the_same_path(client: httpx.AsyncClient) -> None:
    head = await client.head("/api/v1/items")

    assert head.status_code == 200
    assert head.headers["etag"] == '"items-v1"'


async def test_explicit_head_route_wins(client: httpx.AsyncClient) -> None:
    head = await client.head("/api/v1/probe")

    assert head.status_code == 200
    assert head.headers["x-probe"] == "head"


async def test_head_on_a_post_only_route_is_405(client: httpx.AsyncClient) -> None:
    head = await client.head("/api/v1/orders")

    assert head.status_code == 405
    assert head.headers["allow"] == "POST"


async def test_head_on_an_unknown_path_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.head("/nope")).status_code == 404


@pytest.mark.parametrize("path", ["/health/live", "/api/v1/items/7", "/metrics"])
async def test_a_405_on_a_get_route_allows_head(client: httpx.AsyncClient, path: str) -> None:
    response = await client.delete(path)

    assert response.status_code == 405
    assert [method.strip() for method in response.headers["allow"].split(",")] == ["GET", "HEAD"]


async def test_openapi_lists_no_head_operation(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    assert set(paths["/api/v1/items"]) == {"get", "post"}
    assert set(paths["/api/v1/items/{item_id}"]) == {"get"}
    assert set(paths["/api/v1/probe"]) == {"get", "head"}
    operation_ids = [op["operationId"] for path in paths.values() for op in path.values()]
    assert len(operation_ids) == len(set(operation_ids))


async def test_a_405_allows_every_method_served_on_the_path(client: httpx.AsyncClient) -> None:
    # GET and POST /items are two routes; the router alone would name only the first.
    response = await client.delete("/api/v1/items")

    assert response.status_code == 405
    allowed = [method.strip() for method in response.headers["allow"].split(",")]
    assert sorted(allowed) == ["GET", "HEAD", "POST"]
    assert len(allowed) == len(set(allowed))
