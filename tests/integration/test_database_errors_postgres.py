"""Database errors from a real PostgreSQL (asyncpg) translate to the right problems."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tiered.app import create_app
from tiered.db import translate_database_error
from tiered.errors import (
    AppError,
    ConflictError,
    DatabaseUnavailableError,
    DuplicateResourceError,
    InvalidInputError,
)
from tiered.settings import AppSettings

pytestmark = pytest.mark.postgres

CLOSED_PORT_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/test"
NEVER_IN_A_BODY = ("Traceback", "SELECT", "INSERT", "duplicate key", "Key (", "asyncpg", "violates")


@dataclass(frozen=True)
class Tables:
    team: str
    account: str

    @property
    def insert(self) -> str:
        return (
            f"INSERT INTO {self.account} (email, team_id, balance) VALUES (:email, :team, :balance)"
        )


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(postgres_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def tables(engine: AsyncEngine) -> AsyncIterator[Tables]:
    prefix = f"tiered_err_{uuid.uuid4().hex[:12]}"
    names = Tables(team=f"{prefix}_team", account=f"{prefix}_account")
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE TABLE {names.team} (id INTEGER PRIMARY KEY)"))
        await connection.execute(
            text(
                f"CREATE TABLE {names.account} ("
                " id SERIAL PRIMARY KEY,"
                f" email TEXT NOT NULL CONSTRAINT {names.account}_email_key UNIQUE,"
                f" team_id INTEGER CONSTRAINT {names.account}_team_fk"
                f"  REFERENCES {names.team} (id),"
                " balance INTEGER NOT NULL DEFAULT 0"
                f"  CONSTRAINT {names.account}_balance_check CHECK (balance >= 0))"
            )
        )
        await connection.execute(text(f"INSERT INTO {names.team} (id) VALUES (1)"))
    try:
        yield names
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP TABLE IF EXISTS {names.account}"))
            await connection.execute(text(f"DROP TABLE IF EXISTS {names.team}"))


async def insert(
    engine: AsyncEngine, tables: Tables, email: str | None, team: int | None = 1, balance: int = 0
) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text(tables.insert), {"email": email, "team": team, "balance": balance}
        )


async def translated(
    engine: AsyncEngine, tables: Tables, email: str | None, team: int | None = 1, balance: int = 0
) -> AppError:
    with pytest.raises(sa_exc.IntegrityError) as caught:
        await insert(engine, tables, email, team, balance)
    error = translate_database_error(caught.value)
    assert error is not None
    assert "INSERT" not in error.message
    assert tables.account not in error.message
    return error


async def test_unique_violation(engine: AsyncEngine, tables: Tables) -> None:
    await insert(engine, tables, "ada@example.com")
    error = await translated(engine, tables, "ada@example.com")
    assert type(error) is DuplicateResourceError
    assert (error.status, error.code) == (409, "DUPLICATE_RESOURCE")
    assert error.details == {"constraint": f"{tables.account}_email_key"}
    assert "ada@example.com" not in error.message


async def test_foreign_key_violation(engine: AsyncEngine, tables: Tables) -> None:
    error = await translated(engine, tables, "ada@example.com", team=99)
    assert type(error) is ConflictError
    assert (error.status, error.code) == (409, "FOREIGN_KEY_VIOLATION")
    assert error.details == {"constraint": f"{tables.account}_team_fk"}


async def test_foreign_key_violation_on_delete(engine: AsyncEngine, tables: Tables) -> None:
    await insert(engine, tables, "ada@example.com", team=1)
    with pytest.raises(sa_exc.IntegrityError) as caught:
        async with engine.begin() as connection:
            await connection.execute(text(f"DELETE FROM {tables.team} WHERE id = 1"))
    error = translate_database_error(caught.value)
    assert isinstance(error, ConflictError)
    assert error.code == "FOREIGN_KEY_VIOLATION"
    assert error.details == {"constraint": f"{tables.account}_team_fk"}


async def test_not_null_violation_names_table_and_column(
    engine: AsyncEngine, tables: Tables
) -> None:
    error = await translated(engine, tables, None)
    assert type(error) is InvalidInputError
    assert (error.status, error.code) == (400, "INVALID_INPUT")
    assert error.details == {"constraint": f"{tables.account}.email"}


async def test_check_violation(engine: AsyncEngine, tables: Tables) -> None:
    error = await translated(engine, tables, "ada@example.com", balance=-1)
    assert type(error) is InvalidInputError
    assert error.status == 400
    assert error.details == {"constraint": f"{tables.account}_balance_check"}


async def test_violation_inside_an_orm_session(engine: AsyncEngine, tables: Tables) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    await insert(engine, tables, "ada@example.com")
    sessions = async_sessionmaker(engine)
    with pytest.raises(sa_exc.IntegrityError) as caught:
        async with sessions() as session, session.begin():
            await session.execute(
                text(tables.insert), {"email": "ada@example.com", "team": 1, "balance": 0}
            )
    error = translate_database_error(caught.value)
    assert isinstance(error, DuplicateResourceError)
    assert error.details == {"constraint": f"{tables.account}_email_key"}


@pytest.mark.parametrize("sql", ["SELECT * FROM tiered_no_such_table", "SELEC 1", "SELECT 1 / 0"])
async def test_programming_errors_are_not_translated(engine: AsyncEngine, sql: str) -> None:
    with pytest.raises(sa_exc.DBAPIError) as caught:
        async with engine.connect() as connection:
            await connection.execute(text(sql))
    assert translate_database_error(caught.value) is None, "a bug must surface as a logged 500"


async def test_lost_connection_is_database_unavailable(engine: AsyncEngine) -> None:
    async with engine.connect() as victim:
        pid = (await victim.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with engine.connect() as killer:
            await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(sa_exc.DBAPIError) as caught:
            await victim.execute(text("SELECT 1"))
    error = translate_database_error(caught.value)
    assert isinstance(error, DatabaseUnavailableError)
    assert error.status == 503
    assert error.headers() == {"Retry-After": "5"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    for fragment in NEVER_IN_A_BODY:
        assert fragment not in response.text, f"{fragment!r} leaked: {response.text}"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    assert {"type", "title", "detail"} <= set(body)
    return body


class AccountIn(BaseModel):
    email: str | None
    team: int | None = 1


def accounts_router(tables: Tables | None) -> APIRouter:
    router = APIRouter()

    @router.post("/accounts")
    async def create_account(account: AccountIn, request: Request) -> dict[str, bool]:
        assert tables is not None
        database = request.app.state.tiered.database
        async with database.session() as session, session.begin():
            await session.execute(
                text(tables.insert), {"email": account.email, "team": account.team, "balance": 0}
            )
        return {"created": True}

    @router.get("/count")
    async def count(request: Request) -> dict[str, int]:
        database = request.app.state.tiered.database
        async with database.session() as session:
            return {"count": (await session.execute(text("SELECT 1"))).scalar_one()}

    @router.get("/closed-port")
    async def closed_port() -> dict[str, bool]:
        engine = create_async_engine(CLOSED_PORT_URL)
        try:
            async with engine.connect():
                return {"connected": True}
        finally:
            await engine.dispose()

    return router


async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture
async def pg_client(postgres_url: str, tables: Tables) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        AppSettings(database_url=postgres_url), title="t", routers=[accounts_router(tables)]
    )
    async for client in client_for(app):
        yield client


async def test_unique_violation_through_the_app(
    pg_client: httpx.AsyncClient, tables: Tables
) -> None:
    created = await pg_client.post("/accounts", json={"email": "ada@example.com"})
    assert created.status_code == 200, created.text
    response = await pg_client.post("/accounts", json={"email": "ada@example.com"})
    body = assert_problem(response, 409, "DUPLICATE_RESOURCE")
    assert body["type"] == "/problems/duplicate-resource"
    assert body["constraint"] == f"{tables.account}_email_key"
    assert "ada@example.com" not in response.text
    again = await pg_client.post("/accounts", json={"email": "grace@example.com"})
    assert again.status_code == 200, "the pool recovered from the failed transaction"


async def test_foreign_key_violation_through_the_app(
    pg_client: httpx.AsyncClient, tables: Tables
) -> None:
    response = await pg_client.post("/accounts", json={"email": "ada@example.com", "team": 99})
    body = assert_problem(response, 409, "FOREIGN_KEY_VIOLATION")
    assert body["constraint"] == f"{tables.account}_team_fk"


async def test_not_null_violation_through_the_app(
    pg_client: httpx.AsyncClient, tables: Tables
) -> None:
    response = await pg_client.post("/accounts", json={"email": None})
    body = assert_problem(response, 400, "INVALID_INPUT")
    assert body["constraint"] == f"{tables.account}.email"


async def test_closed_port_inside_a_route_is_a_503_problem(tmp_path: Any) -> None:
    app = create_app(
        AppSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db"),
        title="t",
        routers=[accounts_router(None)],
    )
    async for client in client_for(app):
        response = await client.get("/closed-port")
        body = assert_problem(response, 503, "SERVICE_UNAVAILABLE")
        assert body["type"] == "/problems/service-unavailable"
        assert response.headers["retry-after"] == "5"
        assert "127.0.0.1" not in response.text
        assert "Connect call failed" not in response.text


async def test_app_whose_database_is_down_answers_503_then_stays_up() -> None:
    app = create_app(
        AppSettings(database_url=CLOSED_PORT_URL), title="t", routers=[accounts_router(None)]
    )
    async for client in client_for(app):
        for _ in range(2):
            response = await client.get("/count")
            code = response.json()["code"]
            assert code in {"SERVICE_UNAVAILABLE", "DATABASE_UNAVAILABLE"}
            assert_problem(response, 503, code)
            assert response.headers["retry-after"]
            assert "127.0.0.1" not in response.text
        live = await client.get("/health/live")
        assert live.status_code == 200


async def test_serialization_failure_is_a_retryable_conflict(
    engine: AsyncEngine, tables: Tables
) -> None:
    async with engine.begin() as setup:
        await setup.execute(text(f"INSERT INTO {tables.team} (id) VALUES (99)"))
    first = await engine.connect()
    second = await engine.connect()
    try:
        for connection in (first, second):
            await connection.execution_options(isolation_level="REPEATABLE READ")
            await connection.begin()
            await connection.execute(text(f"SELECT id FROM {tables.team} WHERE id = 99"))
        await first.execute(text(f"UPDATE {tables.team} SET id = 99 WHERE id = 99"))
        await first.commit()
        with pytest.raises(sa_exc.DBAPIError) as raised:
            await second.execute(text(f"UPDATE {tables.team} SET id = 99 WHERE id = 99"))
        translated = translate_database_error(raised.value)
        assert isinstance(translated, ConflictError)
        assert translated.code == "TRANSACTION_CONFLICT"
    finally:
        await first.close()
        await second.close()
