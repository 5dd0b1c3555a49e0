"""Every error source becomes an RFC 9457 problem, through a real app built by ``create_app``."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import BaseModel, Field
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import text

from tiered.app import create_app
from tiered.errors import (
    AuthenticationError,
    AuthorizationError,
    CircuitBreakerOpenError,
    ConfigurationError,
    DatabaseUnavailableError,
    FieldError,
    InvalidInputError,
    NotFoundError,
    PreconditionFailedError,
    RateLimitError,
    StaleVersionError,
)
from tiered.settings import AppSettings

LIMIT = 1024
PROBLEM_JSON = "application/problem+json"
SECRET_MESSAGE = "SELECT secret FROM vault WHERE owner = 'hunter2'"
NEVER_IN_A_BODY = ("Traceback", "SELECT", "INSERT", 'File "', "hunter2", "sqlalchemy", "sqlite3")
GENERATED_ID = re.compile(r"[0-9a-f]{32}")

ERRORS: dict[str, Callable[[], Exception]] = {
    "market-not-found": lambda: NotFoundError("Market 7 does not exist.", code="MARKET_NOT_FOUND"),
    "invalid": lambda: InvalidInputError(
        "One value is invalid.", errors=[FieldError("/volume", "Must be positive.")]
    ),
    "unauthenticated": lambda: AuthenticationError("The token has expired."),
    "forbidden": lambda: AuthorizationError("Moderators only."),
    "stale": lambda: StaleVersionError("Market 7 changed meanwhile."),
    "precondition": lambda: PreconditionFailedError("If-Match does not match."),
    "rate-limited": lambda: RateLimitError("Slow down.", retry_after=7),
    "circuit-open": lambda: CircuitBreakerOpenError("Mail is paused.", retry_after=12),
    "database-unavailable": lambda: DatabaseUnavailableError("The database is unavailable."),
    "misconfigured": lambda: ConfigurationError("MAIL_HOST is not set."),
    "crash": lambda: RuntimeError(SECRET_MESSAGE),
    "redis-down": lambda: RedisConnectionError(
        "Error 111 connecting to 127.0.0.1:6379. Connection refused."
    ),
    "refused": lambda: ConnectionRefusedError(111, "Connect call failed ('10.9.8.7', 5432)"),
    "timeout": lambda: TimeoutError("SELECT pg_sleep(30) timed out"),
}


class Thing(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, int] = Field(default_factory=dict)


class Account(BaseModel):
    email: str | None
    team_id: int | None = None


router = APIRouter()


@router.get("/raise/{name}")
async def raise_error(name: str) -> dict[str, str]:
    raise ERRORS[name]()


@router.post("/things")
async def create_thing(
    thing: Thing, limit: int = Query(default=10, ge=1, le=100)
) -> dict[str, Any]:
    return {"name": thing.name, "limit": limit}


@router.get("/things/{thing_id}")
async def read_thing(thing_id: int) -> dict[str, int]:
    return {"id": thing_id}


@router.post("/upload")
async def upload(request: Request) -> dict[str, int]:
    return {"received": len(await request.body())}


@router.post("/accounts")
async def create_account(account: Account, request: Request) -> dict[str, bool]:
    database = request.app.state.tiered.database
    async with database.session() as session, session.begin():
        await session.execute(
            text("INSERT INTO accounts (email, team_id) VALUES (:email, :team_id)"),
            {"email": account.email, "team_id": account.team_id},
        )
    return {"created": True}


@router.get("/teams/{team_id}")
async def read_team(team_id: int, request: Request) -> dict[str, int]:
    database = request.app.state.tiered.database
    async with database.session() as session:
        result = await session.execute(text("SELECT id FROM teams WHERE id = :id"), {"id": team_id})
        return {"id": result.scalar_one()}


@router.get("/broken-query")
async def broken_query(request: Request) -> dict[str, int]:
    database = request.app.state.tiered.database
    async with database.session() as session:
        result = await session.execute(text("SELECT no_such_column FROM teams"))
        return {"value": result.scalar_one()}


def build_app(tmp_path: Path, **settings: Any) -> FastAPI:
    return create_app(
        AppSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db", **settings),
        title="t",
        routers=[router],
    )


async def create_tables(app: FastAPI) -> None:
    async with app.state.tiered.database.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE teams (id INTEGER PRIMARY KEY)"))
        await connection.execute(
            text(
                "CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, "
                "team_id INTEGER REFERENCES teams (id))"
            )
        )
        await connection.execute(text("INSERT INTO teams (id) VALUES (1)"))


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(tmp_path, max_body_bytes=LIMIT)
    async with LifespanManager(app) as manager:
        await create_tables(app)
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def assert_problem(
    response: httpx.Response, status: int, *, code: str | None = None, type_: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    for fragment in NEVER_IN_A_BODY:
        assert fragment not in response.text, f"{fragment!r} leaked into {response.text}"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "instance", "code", "request_id"} <= set(body)
    assert body["status"] == status == response.status_code
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    if code is not None:
        assert body["code"] == code
    if type_ is not None:
        assert body["type"] == type_
    return body


# name, status, code, type, headers the response must carry
APP_ERRORS = [
    ("market-not-found", 404, "MARKET_NOT_FOUND", "/problems/not-found", {}),
    ("invalid", 400, "INVALID_INPUT", "/problems/invalid-input", {}),
    (
        "unauthenticated",
        401,
        "AUTHENTICATION_REQUIRED",
        "/problems/authentication-required",
        {"www-authenticate": "Bearer"},
    ),
    ("forbidden", 403, "FORBIDDEN", "/problems/forbidden", {}),
    ("stale", 409, "STALE_VERSION", "/problems/stale-version", {}),
    ("precondition", 412, "PRECONDITION_FAILED", "/problems/precondition-failed", {}),
    ("rate-limited", 429, "RATE_LIMITED", "/problems/rate-limited", {"retry-after": "7"}),
    ("circuit-open", 503, "CIRCUIT_OPEN", "/problems/circuit-open", {"retry-after": "12"}),
    (
        "database-unavailable",
        503,
        "DATABASE_UNAVAILABLE",
        "/problems/database-unavailable",
        {"retry-after": "5"},
    ),
    ("misconfigured", 500, "CONFIGURATION_ERROR", "/problems/configuration-error", {}),
]


@pytest.mark.parametrize(
    ("name", "status", "code", "type_", "headers"), APP_ERRORS, ids=[row[0] for row in APP_ERRORS]
)
async def test_app_error_becomes_its_problem(
    client: httpx.AsyncClient,
    *,
    name: str,
    status: int,
    code: str,
    type_: str,
    headers: dict[str, str],
) -> None:
    response = await client.get(f"/raise/{name}")
    body = assert_problem(response, status, code=code, type_=type_)
    assert body["detail"] == str(ERRORS[name]())
    for header, value in headers.items():
        assert response.headers[header] == value


async def test_app_error_field_errors_are_listed(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/raise/invalid"), 400)
    assert body["errors"] == [
        {"pointer": "/volume", "detail": "Must be positive.", "location": "body"}
    ]


async def test_unknown_route_is_about_blank_404(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/nowhere"), 404, code="NOT_FOUND", type_="about:blank")
    assert body["title"] == "Not Found"


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/things")
    assert_problem(response, 405, code="METHOD_NOT_ALLOWED", type_="about:blank")
    assert response.headers["allow"] == "POST"


async def test_body_field_error_points_into_the_body(client: httpx.AsyncClient) -> None:
    body = assert_problem(
        await client.post("/things", json={"name": ""}),
        422,
        code="REQUEST_VALIDATION_FAILED",
        type_="/problems/request-validation-failed",
    )
    [error] = body["errors"]
    assert error["pointer"] == "/name"
    assert error["location"] == "body"
    assert "at least 1 character" in error["detail"]
    assert body["detail"] == "The request has 1 invalid value."


async def test_query_error_points_to_the_parameter(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.post("/things?limit=500", json={"name": "ok"}), 422)
    [error] = body["errors"]
    assert error["pointer"] == "/limit"
    assert error["location"] == "query"
    assert "100" in error["detail"]


async def test_path_error_points_to_the_parameter(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/things/abc"), 422)
    assert body["errors"] == [
        {
            "pointer": "/thing_id",
            "detail": body["errors"][0]["detail"],
            "location": "path",
        }
    ]
    assert "integer" in body["errors"][0]["detail"]


async def test_every_invalid_value_is_listed_with_an_escaped_pointer(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/things?limit=0",
        json={"name": "x" * 21, "tags": ["ok", 5], "labels": {"a/b~c": "many"}},
    )
    body = assert_problem(response, 422)
    found = {(error["location"], error["pointer"]) for error in body["errors"]}
    assert found == {
        ("body", "/name"),
        ("body", "/tags/1"),
        ("body", "/labels/a~1b~0c"),
        ("query", "/limit"),
    }
    assert body["detail"] == "The request has 4 invalid values."


async def test_missing_body_points_at_the_whole_document(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.post("/things"), 422)
    assert [(e["location"], e["pointer"]) for e in body["errors"]] == [("body", "")]


async def test_malformed_json_points_at_the_whole_document(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/things", content=b'{"name": oops}', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 422)
    assert [(e["location"], e["pointer"]) for e in body["errors"]] == [("body", "")]


async def test_rejected_input_is_not_echoed(client: httpx.AsyncClient) -> None:
    rejected = "TOPSECRETVALUE-" * 3
    response = await client.post("/things", json={"name": rejected})
    assert_problem(response, 422)
    assert rejected not in response.text


async def test_unique_violation_is_409_naming_the_constraint(client: httpx.AsyncClient) -> None:
    first = await client.post("/accounts", json={"email": "ada@example.com", "team_id": 1})
    assert first.status_code == 200, first.text
    response = await client.post("/accounts", json={"email": "ada@example.com", "team_id": 1})
    body = assert_problem(
        response, 409, code="DUPLICATE_RESOURCE", type_="/problems/duplicate-resource"
    )
    assert body["constraint"] == "accounts.email"
    assert "ada@example.com" not in response.text
    assert "UNIQUE constraint failed" not in response.text


async def test_session_is_usable_after_a_violation(client: httpx.AsyncClient) -> None:
    await client.post("/accounts", json={"email": "ada@example.com"})
    assert (await client.post("/accounts", json={"email": "ada@example.com"})).status_code == 409
    again = await client.post("/accounts", json={"email": "grace@example.com"})
    assert again.status_code == 200, again.text


async def test_foreign_key_violation_is_409(client: httpx.AsyncClient) -> None:
    response = await client.post("/accounts", json={"email": "ada@example.com", "team_id": 99})
    assert_problem(response, 409, code="FOREIGN_KEY_VIOLATION", type_="/problems/conflict")
    assert "FOREIGN KEY" not in response.text


async def test_not_null_violation_is_400_naming_the_column(client: httpx.AsyncClient) -> None:
    response = await client.post("/accounts", json={"email": None})
    body = assert_problem(response, 400, code="INVALID_INPUT", type_="/problems/invalid-input")
    assert body["constraint"] == "accounts.email"


async def test_untranslatable_database_error_is_a_generic_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/teams/42")
    body = assert_problem(response, 500, code="INTERNAL_ERROR", type_="/problems/internal-error")
    assert "No row was found" not in response.text
    assert body["detail"] == "The server failed to complete the request; it has been logged."


async def test_query_bug_is_a_generic_500_not_a_503(client: httpx.AsyncClient) -> None:
    response = await client.get("/broken-query")
    assert_problem(response, 500, code="INTERNAL_ERROR", type_="/problems/internal-error")
    assert "retry-after" not in response.headers
    assert "no_such_column" not in response.text


async def test_unhandled_error_is_a_generic_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/raise/crash")
    body = assert_problem(response, 500, code="INTERNAL_ERROR", type_="/problems/internal-error")
    assert body["title"] == "Internal Server Error"
    assert body["detail"] == "The server failed to complete the request; it has been logged."
    assert SECRET_MESSAGE not in response.text
    assert "RuntimeError" not in response.text
    assert "secret" not in response.text


async def crash_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], **settings: Any
) -> tuple[httpx.Response, str]:
    app = build_app(tmp_path, **settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            capsys.readouterr()
            response = await client.get("/raise/crash")
    assert_problem(response, 500)
    return response, capsys.readouterr().out


async def test_unhandled_error_traceback_is_logged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    response, logged = await crash_once(tmp_path, capsys, log_json=False)
    assert "unhandled_error" in logged
    assert "Traceback (most recent call last)" in logged
    assert f"RuntimeError: {SECRET_MESSAGE}" in logged
    assert "in raise_error" in logged, "the route's frame is in the traceback"
    assert response.headers["x-request-id"] in logged


async def test_unhandled_error_traceback_is_logged_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    response, logged = await crash_once(tmp_path, capsys, log_json=True)
    lines = [json.loads(line) for line in logged.splitlines() if line]
    [event] = [line for line in lines if line.get("event") == "unhandled_error"]
    assert event["request_id"] == response.headers["x-request-id"]
    assert event["level"] == "error"
    [exception] = event["exception"]
    assert exception["exc_type"] == "RuntimeError"
    assert exception["exc_value"] == SECRET_MESSAGE
    assert exception["frames"][-1]["name"] == "raise_error"


async def test_unhandled_error_response_carries_security_headers(
    client: httpx.AsyncClient,
) -> None:
    handled = await client.get("/raise/market-not-found")
    assert handled.headers["x-content-type-options"] == "nosniff"
    response = await client.get("/raise/crash")
    assert response.status_code == 500
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert "content-security-policy" in response.headers


@pytest.mark.parametrize(
    ("name", "code", "type_", "leak"),
    [
        ("redis-down", "CACHE_UNAVAILABLE", "/problems/cache-unavailable", "6379"),
        ("refused", "SERVICE_UNAVAILABLE", "/problems/service-unavailable", "10.9.8.7"),
        ("timeout", "SERVICE_UNAVAILABLE", "/problems/service-unavailable", "pg_sleep"),
    ],
)
async def test_unreachable_dependency_is_503_with_retry_after(
    client: httpx.AsyncClient, name: str, code: str, type_: str, leak: str
) -> None:
    response = await client.get(f"/raise/{name}")
    assert_problem(response, 503, code=code, type_=type_)
    assert response.headers["retry-after"] == "5"
    assert leak not in response.text
    assert "Connect call failed" not in response.text
    assert "Connection refused" not in response.text


async def test_declared_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/things", content=b"x" * (LIMIT + 1), headers={"content-type": "application/json"}
    )
    body = assert_problem(
        response, 413, code="PAYLOAD_TOO_LARGE", type_="/problems/payload-too-large"
    )
    assert body["limit_bytes"] == LIMIT


async def test_body_at_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    head, tail = b'{"name": "ok", "tags": ["', b'"]}'
    content = head + b"x" * (LIMIT - len(head) - len(tail)) + tail
    assert len(content) == LIMIT
    response = await client.post(
        "/things", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text


def chunks(total: int, size: int = 100) -> Callable[[], AsyncIterator[bytes]]:
    async def stream() -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            piece = min(size, total - sent)
            sent += piece
            yield b"x" * piece

    return stream


async def test_streamed_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", content=chunks(LIMIT * 3)())
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    body = assert_problem(response, 413, code="PAYLOAD_TOO_LARGE")
    assert body["limit_bytes"] == LIMIT


async def test_streamed_body_under_the_limit_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", content=chunks(LIMIT)())
    assert "content-length" not in response.request.headers
    assert response.status_code == 200
    assert response.json() == {"received": LIMIT}


async def test_streamed_body_over_the_limit_is_413_on_a_model_route(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/things", content=chunks(LIMIT * 3)(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, code="PAYLOAD_TOO_LARGE")


async def test_well_formed_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    for sent in ("client-req.42:abc_DEF", "a" * 128):
        response = await client.get("/raise/market-not-found", headers={"X-Request-ID": sent})
        assert response.headers["x-request-id"] == sent
        assert assert_problem(response, 404)["request_id"] == sent


@pytest.mark.parametrize(
    "sent",
    ["a" * 300, "a" * 129, "has spaces", "abc\ndef", "-leading-dash", "semi;colon", "é"],
    ids=["300-chars", "129-chars", "spaces", "newline", "leading-dash", "semicolon", "non-ascii"],
)
async def test_malformed_request_id_is_replaced(client: httpx.AsyncClient, sent: str) -> None:
    response = await client.get(
        "/raise/market-not-found", headers=[(b"x-request-id", sent.encode())]
    )
    echoed = response.headers["x-request-id"]
    assert echoed != sent
    assert GENERATED_ID.fullmatch(echoed)
    assert assert_problem(response, 404)["request_id"] == echoed
    assert sent not in response.text


async def test_each_request_gets_its_own_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/nowhere")
    second = await client.get("/nowhere")
    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2
    assert all(GENERATED_ID.fullmatch(value) for value in ids)
