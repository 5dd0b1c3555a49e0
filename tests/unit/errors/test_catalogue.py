"""Problem ``type`` URIs resolve: ``/problems`` and ``/problems/{slug}``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter
from pydantic import BaseModel
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import text
from starlette.requests import Request

from tiered.app import create_app
from tiered.errors import (
    AppError,
    AuthenticationError,
    AuthorizationError,
    CacheError,
    CircuitBreakerOpenError,
    ConfigurationError,
    ConflictError,
    DatabaseMisuseError,
    DatabaseUnavailableError,
    DuplicateResourceError,
    ExternalServiceError,
    InternalError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
    ProcessingError,
    RateLimitError,
    StaleVersionError,
    TransactionConflictError,
    UnprocessableContentError,
    ValidationError,
    problem_types,
)
from tiered.settings import AppSettings

HIERARCHY: list[type[AppError]] = [
    AppError,
    ValidationError,
    InvalidInputError,
    UnprocessableContentError,
    AuthenticationError,
    AuthorizationError,
    NotFoundError,
    ConflictError,
    DuplicateResourceError,
    StaleVersionError,
    TransactionConflictError,
    PreconditionFailedError,
    PayloadTooLargeError,
    RateLimitError,
    ExternalServiceError,
    DatabaseUnavailableError,
    CacheError,
    CircuitBreakerOpenError,
    InternalError,
    DatabaseMisuseError,
    ConfigurationError,
    ProcessingError,
]
SLUGS = sorted({cls.slug for cls in HIERARCHY})
HREF = re.compile(r'href="(/problems/[^"]+)"')


class TradingHaltedError(ConflictError):
    """An application's own problem type: a subclass with its own slug."""

    code = "TRADING_HALTED"
    title = "Trading Halted"
    slug = "trading-halted"
    description = "Trading is halted; <b>only</b> active markets accept positions."


class MarketMissingError(NotFoundError):
    """A subclass without its own slug reuses its parent's page."""

    code = "MARKET_MISSING"


class Body(BaseModel):
    name: str


router = APIRouter()
RAISE: dict[str, Callable[[], Exception]] = {
    "halted": lambda: TradingHaltedError("Trading on market 7 is halted."),
    "missing": lambda: MarketMissingError("Market 7 does not exist."),
    "crash": lambda: RuntimeError("boom"),
    "redis": lambda: RedisConnectionError("down"),
    "refused": lambda: ConnectionRefusedError("down"),
    **{cls.__name__: cls for cls in HIERARCHY},
}


@router.get("/raise/{name}")
async def raise_error(name: str) -> None:
    raise RAISE[name]()


@router.post("/body")
async def take_body(body: Body) -> dict[str, str]:
    return {"name": body.name}


@router.post("/unique")
async def unique(request: Request) -> None:
    async with request.app.state.tiered.database.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE IF NOT EXISTS u (v INTEGER UNIQUE)"))
        await connection.execute(text("INSERT INTO u (v) VALUES (1)"))


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        AppSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db", max_body_bytes=64),
        title="t",
        routers=[router],
    )
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def test_problem_types_knows_every_class() -> None:
    known = problem_types()
    assert set(SLUGS) <= set(known)
    for cls in HIERARCHY:
        problem = known[cls.slug]
        assert problem.status == cls.status
        assert problem.uri == f"/problems/{cls.slug}"


async def test_index_links_every_slug(client: httpx.AsyncClient) -> None:
    response = await client.get("/problems", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    linked = set(HREF.findall(response.text))
    for slug in [*SLUGS, TradingHaltedError.slug]:
        assert f"/problems/{slug}" in linked


async def test_index_links_resolve(client: httpx.AsyncClient) -> None:
    index = await client.get("/problems")
    links = HREF.findall(index.text)
    assert len(links) >= len(SLUGS)
    for link in links:
        assert (await client.get(link)).status_code == 200, link


async def test_index_as_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/problems", headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    entries = {entry["slug"]: entry for entry in response.json()}
    assert set(SLUGS) <= set(entries)
    for cls in HIERARCHY:
        entry = entries[cls.slug]
        assert entry["status"] == cls.status
        assert entry["title"] == cls.title
        assert entry["description"] == cls.description
    assert entries["not-found"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("cls", HIERARCHY, ids=[cls.__name__ for cls in HIERARCHY])
async def test_each_type_page_describes_its_class(
    client: httpx.AsyncClient, cls: type[AppError]
) -> None:
    page = await client.get(f"/problems/{cls.slug}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f"<h1>{cls.title}</h1>" in page.text
    assert f"<strong>{cls.status}</strong>" in page.text
    as_json = await client.get(f"/problems/{cls.slug}", headers={"Accept": "application/json"})
    assert as_json.status_code == 200
    assert as_json.json()["slug"] == cls.slug
    assert as_json.json()["status"] == cls.status


EMITTING_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    *[("GET", f"/raise/{cls.__name__}", {}) for cls in HIERARCHY],
    ("GET", "/raise/halted", {}),
    ("GET", "/raise/missing", {}),
    ("GET", "/raise/crash", {}),
    ("GET", "/raise/redis", {}),
    ("GET", "/raise/refused", {}),
    ("POST", "/body", {"json": {"name": 1}}),
    ("POST", "/body", {"content": b"x" * 100}),
    ("GET", "/problems/no-such-problem", {}),
]


@pytest.mark.parametrize(
    ("method", "path", "options"),
    EMITTING_REQUESTS,
    ids=[f"{m} {p}" + (" big" if "content" in o else "") for m, p, o in EMITTING_REQUESTS],
)
async def test_emitted_type_resolves(
    client: httpx.AsyncClient, method: str, path: str, options: dict[str, Any]
) -> None:
    response = await client.request(method, path, **options)
    assert response.status_code >= 400
    assert response.headers["content-type"] == "application/problem+json"
    problem_type = response.json()["type"]
    assert problem_type.startswith("/problems/")
    page = await client.get(problem_type)
    assert page.status_code == 200, problem_type
    assert f"<strong>{response.status_code}</strong>" in page.text


async def test_duplicate_resource_type_resolves(client: httpx.AsyncClient) -> None:
    assert (await client.post("/unique")).status_code == 200
    conflict = await client.post("/unique")
    assert conflict.status_code == 409
    assert conflict.json()["type"] == "/problems/duplicate-resource"
    assert (await client.get(conflict.json()["type"])).status_code == 200


async def test_unknown_slug_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/problems/no-such-problem")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["type"] == "/problems/not-found"
    assert body["instance"] == "/problems/no-such-problem"
    assert body["request_id"] == response.headers["x-request-id"]
    assert "no-such-problem" in body["detail"]


async def test_unknown_slug_with_markup_is_not_reflected_as_html(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/problems/<script>alert(1)")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_user_defined_type_gets_its_page(client: httpx.AsyncClient) -> None:
    assert problem_types()["trading-halted"].code == "TRADING_HALTED"
    raised = await client.get("/raise/halted")
    assert raised.status_code == 409
    assert raised.json()["type"] == "/problems/trading-halted"
    assert raised.json()["code"] == "TRADING_HALTED"
    page = await client.get("/problems/trading-halted")
    assert page.status_code == 200
    assert "<h1>Trading Halted</h1>" in page.text
    assert "<strong>409</strong>" in page.text
    assert "<code>TRADING_HALTED</code>" in page.text
    assert "&lt;b&gt;only&lt;/b&gt;" in page.text, "descriptions are escaped"
    assert "<b>only</b>" not in page.text
    as_json = await client.get("/problems/trading-halted", headers={"Accept": "application/json"})
    assert as_json.json() == {
        "slug": "trading-halted",
        "title": "Trading Halted",
        "status": 409,
        "code": "TRADING_HALTED",
        "description": TradingHaltedError.description,
    }


async def test_subclass_without_own_slug_uses_the_parent_page(
    client: httpx.AsyncClient,
) -> None:
    raised = await client.get("/raise/missing")
    assert raised.json()["type"] == "/problems/not-found"
    assert raised.json()["code"] == "MARKET_MISSING"
    assert problem_types()["not-found"].code == "NOT_FOUND", "the parent's page is unchanged"


async def test_catalogue_is_listed_in_openapi(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/problems/{slug}" in paths
    assert "/problems" in paths
