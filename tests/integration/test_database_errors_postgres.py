"""Database errors from a real PostgreSQL (asyncpg) translate to the right problems.

Each error is provoked for real: bad values, races between two connections (a
serialization failure, a deadlock, a row locked with NOWAIT), timeouts, refused
and rejected connections, and asyncpg's own limits.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import bindparam, make_url, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tiered.app import create_app
from tiered.db import translate_database_error
from tiered.errors import (
    AppError,
    ConflictError,
    DatabaseMisuseError,
    DatabaseUnavailableError,
    DuplicateResourceError,
    InvalidInputError,
    PayloadTooLargeError,
    TransactionConflictError,
    is_database_error,
    raise_translated,
)
from tiered.errors.database import database_error_fields
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


SQL_LEAKS = ("SELECT", "INSERT", "UPDATE", "asyncpg", "$1", "relation", "violates")


def assert_safe(error: AppError, *secrets: str) -> None:
    """The public message names no SQL, no driver wording and no bound value."""
    for fragment in (*SQL_LEAKS, *secrets):
        assert fragment not in error.message, f"{fragment!r} in {error.message!r}"


async def failing(engine: AsyncEngine, sql: str, params: dict[str, Any] | None = None) -> Exception:
    """Run *sql* in its own transaction and return the error it raised."""
    with pytest.raises(Exception) as caught:  # noqa: PT011 - each test checks the type
        async with engine.begin() as connection:
            await connection.execute(text(sql), params or {})
    return caught.value


# -- data exceptions (SQLSTATE class 22): 400 ------------------------------------------------


@pytest.fixture
async def values_table(engine: AsyncEngine) -> AsyncIterator[str]:
    name = f"tiered_values_{uuid.uuid4().hex[:12]}"
    async with engine.begin() as connection:
        await connection.execute(
            text(
                f"CREATE TABLE {name} (id SERIAL PRIMARY KEY, body TEXT, code VARCHAR(3),"
                " small SMALLINT, amount NUMERIC(5, 2), at TIMESTAMPTZ)"
            )
        )
    try:
        yield name
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP TABLE IF EXISTS {name}"))


DATA_ERRORS = [
    # (id, column, value, SQLSTATE): the value comes from a client; the column refuses it
    ("nul-byte", "body", "ada\x00lovelace", "22021"),
    ("numeric-overflow", "amount", Decimal("12345.67"), "22003"),
    ("smallint-overflow-in-asyncpg", "small", 70000, "22000"),
    ("wrong-type-in-asyncpg", "small", "seventy", "22000"),
    ("string-truncation", "code", "ABCDEF", "22001"),
]


@pytest.mark.parametrize(
    ("column", "value", "sqlstate"),
    [row[1:] for row in DATA_ERRORS],
    ids=[row[0] for row in DATA_ERRORS],
)
async def test_bad_value_is_invalid_input(
    engine: AsyncEngine, values_table: str, column: str, value: object, sqlstate: str
) -> None:
    error = await failing(
        engine, f"INSERT INTO {values_table} ({column}) VALUES (:value)", {"value": value}
    )
    assert isinstance(error, sa_exc.DBAPIError)
    assert database_error_fields(error)["sqlstate"] == sqlstate
    translated = translate_database_error(error)
    assert type(translated) is InvalidInputError
    assert (translated.status, translated.code) == (400, "INVALID_INPUT")
    assert_safe(translated, str(value), values_table, column)


@pytest.mark.parametrize(
    ("sql", "params", "sqlstate"),
    [
        ("SELECT CAST(CAST(:text AS TEXT) AS INTEGER)", {"text": "12abc"}, "22P02"),
        (
            "SELECT CAST(CAST(:day AS TEXT) AS TIMESTAMP) + INTERVAL '300000 years'",
            {"day": "2000-01-01"},
            "22008",
        ),
        ("SELECT 1 / CAST(:zero AS INTEGER)", {"zero": 0}, "22012"),
    ],
    ids=["invalid-text-representation", "datetime-overflow", "division-by-zero"],
)
async def test_data_exception_in_an_expression_is_invalid_input(
    engine: AsyncEngine, sql: str, params: dict[str, Any], sqlstate: str
) -> None:
    error = await failing(engine, sql, params)
    assert database_error_fields(error)["sqlstate"] == sqlstate
    translated = translate_database_error(error)
    assert type(translated) is InvalidInputError
    assert translated.status == 400
    assert_safe(translated, *map(str, params.values()))


async def test_value_too_large_for_an_index_is_payload_too_large(
    engine: AsyncEngine, values_table: str
) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE INDEX ON {values_table} (body)"))
    noise = secrets.token_urlsafe(15_000)  # 20,000 characters that do not compress to a page
    error = await failing(
        engine, f"INSERT INTO {values_table} (body) VALUES (:body)", {"body": noise}
    )
    assert database_error_fields(error)["sqlstate"] == "54000"
    translated = translate_database_error(error)
    assert type(translated) is PayloadTooLargeError
    assert (translated.status, translated.code) == (413, "PAYLOAD_TOO_LARGE")
    assert_safe(translated, noise[:32], "index")


# -- races between transactions: one retryable 409 -------------------------------------------


@pytest.fixture
async def rows(engine: AsyncEngine) -> AsyncIterator[str]:
    name = f"tiered_rows_{uuid.uuid4().hex[:12]}"
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, v INTEGER)"))
        await connection.execute(text(f"INSERT INTO {name} (id, v) VALUES (1, 0), (2, 0)"))
    try:
        yield name
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP TABLE IF EXISTS {name}"))


def assert_transaction_conflict(error: BaseException, sqlstate: str) -> None:
    assert database_error_fields(error)["sqlstate"] == sqlstate
    translated = translate_database_error(error)
    assert type(translated) is TransactionConflictError
    assert isinstance(translated, ConflictError)
    assert (translated.status, translated.code) == (409, "TRANSACTION_CONFLICT")
    assert translated.headers() == {"Retry-After": "1"}, "the same request may be sent again"
    assert_safe(translated)


async def begin(engine: AsyncEngine, isolation_level: str = "READ COMMITTED") -> AsyncConnection:
    connection = await engine.connect()
    await connection.execution_options(isolation_level=isolation_level)
    await connection.begin()
    await connection.execute(text("SET LOCAL lock_timeout = '5s'"))
    return connection


async def test_serialization_failure_is_a_transaction_conflict(
    engine: AsyncEngine, rows: str
) -> None:
    """Write skew: each SERIALIZABLE transaction reads what the other one writes."""
    first, second = await begin(engine, "SERIALIZABLE"), await begin(engine, "SERIALIZABLE")
    try:
        for connection, row in ((first, 1), (second, 2)):
            await connection.execute(text(f"SELECT sum(v) FROM {rows}"))
            await connection.execute(text(f"UPDATE {rows} SET v = 1 WHERE id = {row}"))
        await first.commit()
        with pytest.raises(sa_exc.DBAPIError) as caught:
            await second.commit()
    finally:
        await first.close()
        await second.close()
    assert_transaction_conflict(caught.value, "40001")


async def test_concurrent_update_under_repeatable_read_is_a_transaction_conflict(
    engine: AsyncEngine, rows: str
) -> None:
    first, second = await begin(engine, "REPEATABLE READ"), await begin(engine, "REPEATABLE READ")
    try:
        for connection in (first, second):
            await connection.execute(text(f"SELECT v FROM {rows} WHERE id = 1"))
        await first.execute(text(f"UPDATE {rows} SET v = 1 WHERE id = 1"))
        await first.commit()
        with pytest.raises(sa_exc.DBAPIError) as caught:
            await second.execute(text(f"UPDATE {rows} SET v = 2 WHERE id = 1"))
    finally:
        await first.close()
        await second.close()
    assert_transaction_conflict(caught.value, "40001")


async def test_deadlock_is_a_transaction_conflict(engine: AsyncEngine, rows: str) -> None:
    first, second = await begin(engine), await begin(engine)
    try:
        for connection in (first, second):
            await connection.execute(text("SET LOCAL deadlock_timeout = '20ms'"))
        await first.execute(text(f"UPDATE {rows} SET v = 1 WHERE id = 1"))
        await second.execute(text(f"UPDATE {rows} SET v = 2 WHERE id = 2"))
        outcomes = await asyncio.gather(
            first.execute(text(f"UPDATE {rows} SET v = 1 WHERE id = 2")),
            second.execute(text(f"UPDATE {rows} SET v = 2 WHERE id = 1")),
            return_exceptions=True,
        )
    finally:
        await first.close()
        await second.close()
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert len(errors) == 1, outcomes
    assert_transaction_conflict(errors[0], "40P01")


async def test_row_locked_with_nowait_is_a_transaction_conflict(
    engine: AsyncEngine, rows: str
) -> None:
    holder, waiter = await begin(engine), await begin(engine)
    try:
        await holder.execute(text(f"SELECT v FROM {rows} WHERE id = 1 FOR UPDATE"))
        with pytest.raises(sa_exc.DBAPIError) as caught:
            await waiter.execute(text(f"SELECT v FROM {rows} WHERE id = 1 FOR UPDATE NOWAIT"))
    finally:
        await holder.close()
        await waiter.close()
    assert_transaction_conflict(caught.value, "55P03")


# -- timeouts and connections: 503 -------------------------------------------------------------


def assert_unavailable(error: BaseException, message: str = "The database is unavailable.") -> None:
    assert is_database_error(error)
    translated = translate_database_error(error)
    assert type(translated) is DatabaseUnavailableError
    assert (translated.status, translated.code) == (503, "DATABASE_UNAVAILABLE")
    assert translated.headers() == {"Retry-After": "5"}
    assert translated.message == message
    with pytest.raises(DatabaseUnavailableError) as raised:
        raise_translated(error)
    assert raised.value.__cause__ is error


async def test_statement_timeout_is_unavailable(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("SET LOCAL statement_timeout = 20"))
        with pytest.raises(sa_exc.DBAPIError) as caught:
            await connection.execute(text("SELECT pg_sleep(5)"))
        await connection.rollback()
    assert database_error_fields(caught.value)["sqlstate"] == "57014"
    assert_unavailable(caught.value, "The database did not answer in time.")


async def test_asyncpg_command_timeout_is_unavailable(postgres_url: str) -> None:
    """asyncpg raises the builtin ``TimeoutError``; SQLAlchemy does not wrap it."""
    engine = create_async_engine(postgres_url, connect_args={"command_timeout": 0.05})
    try:
        with pytest.raises(TimeoutError) as caught:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT pg_sleep(5)"))
    finally:
        await engine.dispose()
    assert_unavailable(caught.value, "The database did not answer in time.")


async def test_refused_connection_is_unavailable() -> None:
    """asyncpg connects outside SQLAlchemy's wrapping: a bare ``ConnectionRefusedError``."""
    engine = create_async_engine(CLOSED_PORT_URL)
    try:
        with pytest.raises(ConnectionRefusedError) as caught:
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
    assert_unavailable(caught.value)
    assert not is_database_error(ConnectionRefusedError(111, "a refusal from elsewhere"))


async def test_unknown_database_is_unavailable(postgres_url: str) -> None:
    url = make_url(postgres_url).set(database=f"tiered_missing_{uuid.uuid4().hex[:8]}")
    engine = create_async_engine(url)
    try:
        with pytest.raises(sa_exc.DBAPIError) as caught:
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
    assert database_error_fields(caught.value)["sqlstate"] == "3D000"
    assert_unavailable(caught.value)


async def test_too_many_connections_is_unavailable(engine: AsyncEngine, postgres_url: str) -> None:
    role = f"tiered_limited_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0"))
    limited = create_async_engine(make_url(postgres_url).set(username=role, password=None))
    try:
        with pytest.raises(sa_exc.DBAPIError) as caught:
            async with limited.connect():
                pass
    finally:
        await limited.dispose()
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP ROLE {role}"))
    assert database_error_fields(caught.value)["sqlstate"] == "53300"
    assert_unavailable(caught.value)


# -- our own bugs: a generic 500 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "sqlstate"),
    [("SELECT * FROM tiered_no_such_table", "42P01"), ("SELEC 1", "42601")],
    ids=["no-table", "syntax"],
)
async def test_mistakes_in_our_sql_are_a_generic_500(
    engine: AsyncEngine, sql: str, sqlstate: str
) -> None:
    error = await failing(engine, sql)
    assert database_error_fields(error)["sqlstate"] == sqlstate
    translated = translate_database_error(error)
    assert type(translated) is DatabaseMisuseError
    assert (translated.status, translated.code) == (500, "INTERNAL_ERROR")
    assert translated.message == "The server failed to complete the request; it has been logged."
    assert translated.headers() == {}


async def test_too_many_query_arguments_is_a_generic_500(engine: AsyncEngine) -> None:
    """asyncpg refuses more than 32,767 arguments before sending anything."""
    statement = text("SELECT 1 WHERE 1 IN :ids").bindparams(bindparam("ids", expanding=True))
    with pytest.raises(sa_exc.InterfaceError) as caught:
        async with engine.connect() as connection:
            await connection.execute(statement, {"ids": list(range(32_768))})
    fields = database_error_fields(caught.value)
    assert "32767" in fields["error"]
    assert "sqlstate" not in fields
    translated = translate_database_error(caught.value)
    assert type(translated) is DatabaseMisuseError, "a driver limit we hit is our bug"
    assert_safe(translated, "32767")


async def test_wrong_argument_count_is_a_generic_500(engine: AsyncEngine) -> None:
    with pytest.raises(sa_exc.InterfaceError) as caught:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT $1::int, $2::int", (1,))
    assert type(translate_database_error(caught.value)) is DatabaseMisuseError


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

    @router.post("/teams/{team_id}/lock")
    async def lock_team(team_id: int, request: Request) -> dict[str, bool]:
        assert tables is not None
        database = request.app.state.tiered.database
        async with database.session() as session, session.begin():
            await session.execute(
                text(f"SELECT id FROM {tables.team} WHERE id = :id FOR UPDATE NOWAIT"),
                {"id": team_id},
            )
        return {"locked": True}

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


async def test_nul_byte_through_the_app_is_a_400(pg_client: httpx.AsyncClient) -> None:
    response = await pg_client.post("/accounts", json={"email": "ada\u0000@example.com"})
    body = assert_problem(response, 400, "INVALID_INPUT")
    assert body["type"] == "/problems/invalid-input"
    assert "ada" not in response.text
    assert "0x00" not in response.text


async def test_locked_row_through_the_app_is_a_retryable_409(
    pg_client: httpx.AsyncClient, engine: AsyncEngine, tables: Tables
) -> None:
    async with engine.begin() as holder:
        await holder.execute(text(f"SELECT id FROM {tables.team} WHERE id = 1 FOR UPDATE"))
        response = await pg_client.post("/teams/1/lock")
    body = assert_problem(response, 409, "TRANSACTION_CONFLICT")
    assert body["type"] == "/problems/transaction-conflict"
    assert response.headers["retry-after"] == "1"
    assert (await pg_client.get(body["type"])).status_code == 200, "the type is documented"


async def test_closed_port_inside_a_route_is_a_logged_503_problem(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(
        AppSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db", log_json=True),
        title="t",
        routers=[accounts_router(None)],
    )
    async for client in client_for(app):
        capsys.readouterr()
        response = await client.get("/closed-port")
        body = assert_problem(response, 503, "DATABASE_UNAVAILABLE")
        assert body["type"] == "/problems/database-unavailable"
        assert response.headers["retry-after"] == "5"
        assert "127.0.0.1" not in response.text
        assert "Connect call failed" not in response.text
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]
    [event] = [line for line in lines if line.get("event") == "database_error"]
    assert event["level"] == "error"
    assert event["request_id"] == response.headers["x-request-id"]
    assert event["error_type"] == "ConnectionRefusedError"
    assert "Connect call failed" in event["error"]
    [exception] = event["exception"]
    assert exception["exc_type"] == "ConnectionRefusedError"
    assert any(frame["name"] == "closed_port" for frame in exception["frames"])


async def test_app_whose_database_is_down_answers_503_then_stays_up() -> None:
    app = create_app(
        AppSettings(database_url=CLOSED_PORT_URL), title="t", routers=[accounts_router(None)]
    )
    async for client in client_for(app):
        for _ in range(2):
            response = await client.get("/count")
            assert_problem(response, 503, "DATABASE_UNAVAILABLE")
            assert response.headers["retry-after"] == "5"
            assert "127.0.0.1" not in response.text
        live = await client.get("/health/live")
        assert live.status_code == 200
