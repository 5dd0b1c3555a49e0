"""Database errors from a real SQLite file translate to the right application errors.

Every error here is provoked for real (locks, stale snapshots, a full file, oversized
values, broken SQL); the tests check the translated class, status and code, that the
public message carries no SQL or values, and that a 5xx is logged with its traceback.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import Column, Integer, MetaData, String, Table, TypeDecorator, insert, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.pool import AsyncAdaptedQueuePool

from tiered.app import create_app
from tiered.db import Database, translate_database_error
from tiered.errors import (
    AppError,
    ConflictError,
    DatabaseMisuseError,
    DatabaseUnavailableError,
    DuplicateResourceError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    StaleVersionError,
    TransactionConflictError,
    is_database_error,
    raise_translated,
)
from tiered.errors.database import database_error_fields
from tiered.settings import AppSettings
from tiered.testing.client import app_client

INSERT = "INSERT INTO account (email, team_id, balance) VALUES (:email, :team, :balance)"
NEVER_IN_A_MESSAGE = ("SELECT", "INSERT", "UPDATE", "sqlite", "SQLITE", "constraint failed")
GENERIC_500 = "The server failed to complete the request; it has been logged."


def assert_safe(error: AppError, *secrets: str) -> None:
    """The public message names no SQL, no driver wording and no bound value."""
    for fragment in (*NEVER_IN_A_MESSAGE, *secrets):
        assert fragment not in error.message, f"{fragment!r} in {error.message!r}"


def sqlite_errorname(error: BaseException) -> str:
    orig = error.orig if isinstance(error, sa_exc.StatementError) else error
    return str(getattr(orig, "sqlite_errorname", ""))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    database = Database.from_settings(
        AppSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/errors.db")
    )
    async with database.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE team (id INTEGER PRIMARY KEY)"))
        await connection.execute(
            text(
                "CREATE TABLE account ("
                " id INTEGER PRIMARY KEY,"
                " email TEXT NOT NULL CONSTRAINT account_email_key UNIQUE,"
                " team_id INTEGER CONSTRAINT account_team_fk REFERENCES team (id),"
                " balance INTEGER NOT NULL DEFAULT 0"
                "  CONSTRAINT account_balance_check CHECK (balance >= 0),"
                " region TEXT, handle TEXT,"
                " CONSTRAINT account_handle_key UNIQUE (region, handle))"
            )
        )
        await connection.execute(text("INSERT INTO team (id) VALUES (1)"))
    try:
        yield database.engine
    finally:
        await database.dispose()


async def insert_row(
    engine: AsyncEngine, email: str | None, team: int | None = 1, balance: int = 0
) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(INSERT), {"email": email, "team": team, "balance": balance})


async def translated(
    engine: AsyncEngine, email: str | None, team: int | None = 1, balance: int = 0
) -> AppError:
    with pytest.raises(sa_exc.IntegrityError) as caught:
        await insert_row(engine, email, team, balance)
    error = translate_database_error(caught.value)
    assert error is not None
    assert "INSERT" not in error.message
    assert "constraint failed" not in error.message
    return error


async def test_unique_violation_names_the_column(engine: AsyncEngine) -> None:
    await insert_row(engine, "ada@example.com")
    error = await translated(engine, "ada@example.com")
    assert type(error) is DuplicateResourceError
    assert (error.status, error.code) == (409, "DUPLICATE_RESOURCE")
    # SQLite reports the columns of a violated unique constraint, not its name.
    assert error.details == {"constraint": "account.email"}
    assert "ada@example.com" not in error.message


async def test_composite_unique_violation_names_every_column(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO account (email, region, handle) VALUES ('a@x', 'eu', 'ada')")
        )
    with pytest.raises(sa_exc.IntegrityError) as caught:
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO account (email, region, handle) VALUES ('b@x', 'eu', 'ada')")
            )
    error = translate_database_error(caught.value)
    assert isinstance(error, DuplicateResourceError)
    assert error.details == {"constraint": "account.region, account.handle"}


async def test_foreign_key_violation(engine: AsyncEngine) -> None:
    error = await translated(engine, "ada@example.com", team=99)
    assert type(error) is ConflictError
    assert (error.status, error.code) == (409, "FOREIGN_KEY_VIOLATION")
    assert error.details == {}, "SQLite does not say which foreign key failed"


async def test_foreign_key_violation_on_delete(engine: AsyncEngine) -> None:
    await insert_row(engine, "ada@example.com", team=1)
    with pytest.raises(sa_exc.IntegrityError) as caught:
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM team WHERE id = 1"))
    error = translate_database_error(caught.value)
    assert isinstance(error, ConflictError)
    assert error.code == "FOREIGN_KEY_VIOLATION"


async def test_not_null_violation_names_table_and_column(engine: AsyncEngine) -> None:
    error = await translated(engine, None)
    assert type(error) is InvalidInputError
    assert (error.status, error.code) == (400, "INVALID_INPUT")
    assert error.details == {"constraint": "account.email"}


async def test_check_violation_names_the_constraint(engine: AsyncEngine) -> None:
    error = await translated(engine, "ada@example.com", balance=-1)
    assert type(error) is InvalidInputError
    assert error.status == 400
    assert error.details == {"constraint": "account_balance_check"}


async def test_violation_inside_an_orm_session(engine: AsyncEngine) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    await insert_row(engine, "ada@example.com")
    sessions = async_sessionmaker(engine)
    with pytest.raises(sa_exc.IntegrityError) as caught:
        async with sessions() as session, session.begin():
            await session.execute(
                text(INSERT), {"email": "ada@example.com", "team": 1, "balance": 0}
            )
    error = translate_database_error(caught.value)
    assert isinstance(error, DuplicateResourceError)
    assert error.details == {"constraint": "account.email"}


# -- connection and lock failures: 503 ------------------------------------------------


async def test_locked_database_is_unavailable_after_the_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/locked.db"
    holder = create_async_engine(url)
    waiter = create_async_engine(url, connect_args={"timeout": 0.05})
    try:
        async with holder.connect() as connection:
            await connection.execute(text("CREATE TABLE t (v INTEGER)"))
            await connection.commit()
            await connection.exec_driver_sql("BEGIN EXCLUSIVE")
            with pytest.raises(sa_exc.OperationalError) as caught:
                async with waiter.begin() as other:
                    await other.execute(text("INSERT INTO t (v) VALUES (1)"))
            await connection.rollback()
    finally:
        await holder.dispose()
        await waiter.dispose()
    assert sqlite_errorname(caught.value) == "SQLITE_BUSY"
    error = translate_database_error(caught.value)
    assert type(error) is DatabaseUnavailableError
    assert (error.status, error.code) == (503, "DATABASE_UNAVAILABLE")
    assert error.headers() == {"Retry-After": "5"}
    assert_safe(error, "locked")


async def test_write_on_a_stale_snapshot_is_a_retryable_transaction_conflict(
    tmp_path: Path,
) -> None:
    """Two WAL connections: the one that read first cannot write once the other committed."""
    url = f"sqlite+aiosqlite:///{tmp_path}/snapshot.db"
    first, second = create_async_engine(url), create_async_engine(url)
    try:
        async with first.connect() as setup:
            await setup.exec_driver_sql("PRAGMA journal_mode=WAL")
            await setup.execute(text("CREATE TABLE t (v INTEGER)"))
            await setup.execute(text("INSERT INTO t (v) VALUES (1)"))
            await setup.commit()
        async with first.connect() as reader:
            await reader.exec_driver_sql("BEGIN")
            await reader.execute(text("SELECT v FROM t"))
            async with second.begin() as writer:
                await writer.execute(text("UPDATE t SET v = 2"))
            with pytest.raises(sa_exc.OperationalError) as caught:
                await reader.execute(text("UPDATE t SET v = 3"))
            await reader.rollback()
    finally:
        await first.dispose()
        await second.dispose()
    assert sqlite_errorname(caught.value) == "SQLITE_BUSY_SNAPSHOT"
    error = translate_database_error(caught.value)
    assert type(error) is TransactionConflictError
    assert isinstance(error, ConflictError)
    assert (error.status, error.code) == (409, "TRANSACTION_CONFLICT")
    assert error.headers() == {"Retry-After": "1"}, "retryable: the same request may succeed"
    assert_safe(error, "locked")


async def test_full_database_is_unavailable(engine: AsyncEngine) -> None:
    many_rows = (
        "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)"
        " INSERT INTO team (id) SELECT i FROM n"
    )
    async with engine.connect() as connection:
        pages = (await connection.exec_driver_sql("PRAGMA page_count")).scalar_one()
        await connection.exec_driver_sql(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(sa_exc.OperationalError) as caught:
            await connection.execute(text(many_rows))
        await connection.rollback()
        await connection.invalidate()  # do not return a capped connection to the pool
    assert sqlite_errorname(caught.value) == "SQLITE_FULL"
    error = translate_database_error(caught.value)
    assert type(error) is DatabaseUnavailableError
    assert_safe(error, "full")


async def join_sqlite_worker_threads() -> None:
    """aiosqlite stops the thread of a failed connection without awaiting it; wait for it
    here, or it reports to this test's event loop after the loop is closed."""
    for thread in threading.enumerate():
        if thread.name.endswith("(_connection_worker_thread)"):
            await asyncio.to_thread(thread.join, 10)


async def test_unopenable_database_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    engine = create_async_engine(f"sqlite+aiosqlite:///{blocker}/db.sqlite")
    try:
        with pytest.raises(sa_exc.OperationalError) as caught:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
        await join_sqlite_worker_threads()
    assert isinstance(translate_database_error(caught.value), DatabaseUnavailableError)


async def test_exhausted_pool_is_unavailable(tmp_path: Path) -> None:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path}/pool.db",
        poolclass=AsyncAdaptedQueuePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=0,
    )
    try:
        async with engine.connect():
            with pytest.raises(sa_exc.TimeoutError) as caught:
                async with engine.connect():
                    pass
    finally:
        await engine.dispose()
    error = translate_database_error(caught.value)
    assert isinstance(error, DatabaseUnavailableError)
    assert error.message == "The database connection pool is exhausted."


# -- data exceptions: 400 / 413 --------------------------------------------------------


async def test_integer_beyond_64_bits_is_invalid_input(engine: AsyncEngine) -> None:
    """sqlite3 refuses to bind it with a bare ``OverflowError`` that SQLAlchemy does not wrap."""
    with pytest.raises(OverflowError) as caught:
        await insert_row(engine, "ada@example.com", balance=2**63)
    assert is_database_error(caught.value)
    error = translate_database_error(caught.value)
    assert type(error) is InvalidInputError
    assert (error.status, error.code) == (400, "INVALID_INPUT")
    assert_safe(error, str(2**63), "Python int")


async def test_value_too_big_for_sqlite_is_payload_too_large(engine: AsyncEngine) -> None:
    with pytest.raises(sa_exc.DataError) as caught:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT zeroblob(:size)"), {"size": 2_000_000_000})
    assert sqlite_errorname(caught.value) == "SQLITE_TOOBIG"
    error = translate_database_error(caught.value)
    assert type(error) is PayloadTooLargeError
    assert (error.status, error.code) == (413, "PAYLOAD_TOO_LARGE")
    assert_safe(error, "2000000000", "blob")


async def test_value_of_the_wrong_type_in_a_strict_table_is_invalid_input(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE strict_t (n INTEGER) STRICT"))
    with pytest.raises(sa_exc.IntegrityError) as caught:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO strict_t (n) VALUES (:n)"), {"n": "abc"})
    error = translate_database_error(caught.value)
    assert type(error) is InvalidInputError, "a wrong type is bad input, not a conflict"
    assert error.status == 400
    assert_safe(error, "abc", "TEXT", "strict_t")


async def test_non_integer_row_id_is_invalid_input(engine: AsyncEngine) -> None:
    with pytest.raises(sa_exc.IntegrityError) as caught:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO team (id) VALUES (:id)"), {"id": "abc"})
    assert sqlite_errorname(caught.value) == "SQLITE_MISMATCH"
    error = translate_database_error(caught.value)
    assert type(error) is InvalidInputError
    assert_safe(error, "abc", "mismatch")


class Shouted(TypeDecorator[str]):
    """A column type that refuses a value with the application's own 400."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is not None and value != value.upper():
            raise InvalidInputError("Names are shouted.", code="NOT_SHOUTED")
        return value


async def test_app_error_raised_inside_a_statement_comes_out_as_itself(
    engine: AsyncEngine,
) -> None:
    shouts = Table(
        "shouts", MetaData(), Column("id", Integer, primary_key=True), Column("name", Shouted())
    )
    async with engine.begin() as connection:
        await connection.run_sync(shouts.metadata.create_all)
    with pytest.raises(sa_exc.StatementError) as caught:
        async with engine.begin() as connection:
            await connection.execute(insert(shouts).values(name="quiet"))
    assert isinstance(caught.value.orig, InvalidInputError)
    assert is_database_error(caught.value)
    assert translate_database_error(caught.value) is caught.value.orig
    with pytest.raises(InvalidInputError) as raised:
        raise_translated(caught.value)
    assert raised.value is caught.value.orig
    assert raised.value.code == "NOT_SHOUTED"


# -- our own bugs: a generic 500 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "params", "driver_says"),
    [
        ("SELECT * FROM no_such_table", {}, "no such table"),
        ("SELECT no_such_column FROM team", {}, "no such column"),
        ("SELEC 1", {}, "syntax error"),
        ("SELECT :a, :b", {"a": 1}, "A value is required for bind parameter 'b'"),
        ("SELECT :a", {"a": object()}, "type 'object' is not supported"),
    ],
    ids=["no-table", "no-column", "syntax", "missing-bind", "unsupported-type"],
)
async def test_mistakes_in_our_sql_are_a_generic_500(
    engine: AsyncEngine, sql: str, params: dict[str, Any], driver_says: str
) -> None:
    with pytest.raises(sa_exc.StatementError) as caught:
        async with engine.connect() as connection:
            await connection.execute(text(sql), params)
    assert is_database_error(caught.value)
    error = translate_database_error(caught.value)
    assert type(error) is DatabaseMisuseError
    assert (error.status, error.code, error.slug) == (500, "INTERNAL_ERROR", "internal-error")
    assert error.message == GENERIC_500
    assert error.headers() == {}, "a bug is not worth retrying"
    assert driver_says in database_error_fields(caught.value)["error"], "the log says what"


async def test_wrong_bind_count_is_a_generic_500(engine: AsyncEngine) -> None:
    with pytest.raises(sa_exc.DBAPIError) as caught:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT ?, ?", (1,))
    assert type(translate_database_error(caught.value)) is DatabaseMisuseError


async def test_orm_usage_errors_are_a_generic_500() -> None:
    assert type(translate_database_error(sa_exc.NoResultFound())) is DatabaseMisuseError


async def test_stale_data_is_a_stale_version() -> None:
    error = translate_database_error(StaleDataError("UPDATE matched 0 rows"))
    assert type(error) is StaleVersionError
    assert_safe(error, "matched")


# -- what is not a database error ------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        ValueError("x"),
        NotFoundError("Market 7 does not exist."),
        OverflowError("not from a driver"),
        ConnectionRefusedError(111, "not from a driver"),
        TimeoutError("not from a driver"),
    ],
    ids=["value-error", "app-error", "overflow", "refused", "timeout"],
)
def test_errors_that_are_not_database_errors_pass_through(error: Exception) -> None:
    assert not is_database_error(error)
    assert translate_database_error(error) is None
    with pytest.raises(type(error)) as raised:
        raise_translated(error)
    assert raised.value is error


async def test_raise_translated_chains_the_driver_error(engine: AsyncEngine) -> None:
    await insert_row(engine, "ada@example.com")
    with pytest.raises(sa_exc.IntegrityError) as caught:
        await insert_row(engine, "ada@example.com")
    with pytest.raises(DuplicateResourceError) as raised:
        raise_translated(caught.value)
    assert raised.value.__cause__ is caught.value


# -- through the app: the 5xx is logged, the response says nothing ------------------------


router = APIRouter()


@router.get("/broken")
async def broken(request: Request) -> dict[str, int]:
    """A route's own query, not translated by any repository."""
    database = request.app.state.tiered.database
    async with database.session() as session:
        return {"v": (await session.execute(text("SELECT v FROM no_such_table"))).scalar_one()}


@router.get("/broken-behind-a-boundary")
async def broken_behind_a_boundary(request: Request) -> dict[str, int]:
    """As a repository does it: translate, then raise the application error."""
    database = request.app.state.tiered.database
    async with database.session() as session:
        try:
            result = await session.execute(text("SELECT v FROM no_such_table"))
        except Exception as error:
            raise_translated(error)
        return {"v": result.scalar_one()}


@router.post("/fill")
async def fill(request: Request) -> dict[str, bool]:
    database = request.app.state.tiered.database
    async with database.engine.connect() as connection:
        await connection.execute(text("CREATE TABLE IF NOT EXISTS filler (v TEXT)"))
        pages = (await connection.exec_driver_sql("PRAGMA page_count")).scalar_one()
        await connection.exec_driver_sql(f"PRAGMA max_page_count = {pages}")
        try:
            await connection.execute(text("INSERT INTO filler (v) VALUES (zeroblob(1000000))"))
        finally:
            await connection.invalidate()
    return {"filled": True}


@router.post("/overflow")
async def overflow(request: Request) -> dict[str, bool]:
    database = request.app.state.tiered.database
    async with database.engine.connect() as connection:
        await connection.execute(text("SELECT :n"), {"n": 2**64})
    return {"bound": True}


def app_for(tmp_path: Path, *, log_json: bool) -> FastAPI:
    settings = AppSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/app.db", log_json=log_json)
    return create_app(settings, title="t", routers=[router])


async def call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], method: str, path: str, *, log_json: bool
) -> tuple[httpx.Response, str]:
    async with app_client(app_for(tmp_path, log_json=log_json)) as client:
        capsys.readouterr()
        response = await client.request(method, path)
    return response, capsys.readouterr().out


def assert_silent_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    for fragment in ("Traceback", "SELECT", "INSERT", "no_such_table", "sqlite", "SQLITE", "full"):
        assert fragment not in response.text, f"{fragment!r} leaked: {response.text}"
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code)
    return body


def logged_events(output: str, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


@pytest.mark.parametrize("path", ["/broken", "/broken-behind-a-boundary"])
async def test_query_bug_is_logged_with_message_and_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    response, output = await call(tmp_path, capsys, "GET", path, log_json=True)
    body = assert_silent_problem(response, 500, "INTERNAL_ERROR")
    assert body["detail"] == GENERIC_500
    [event] = logged_events(output, "database_error")
    assert event["level"] == "error"
    assert event["request_id"] == response.headers["x-request-id"]
    assert (event["status"], event["code"]) == (500, "INTERNAL_ERROR")
    assert event["error_type"] == "sqlite3.OperationalError"
    assert event["error"] == "no such table: no_such_table"
    assert event["sqlite_error"] == "SQLITE_ERROR (1)"
    chain = {exception["exc_type"]: exception for exception in event["exception"]}
    assert "OperationalError" in chain
    assert chain["OperationalError"]["frames"], "the traceback is in the log"
    assert not logged_events(output, "unhandled_error"), "logged once"


async def test_query_bug_traceback_is_printed_in_development(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    response, output = await call(
        tmp_path, capsys, "GET", "/broken-behind-a-boundary", log_json=False
    )
    assert_silent_problem(response, 500, "INTERNAL_ERROR")
    assert "database_error" in output
    assert "Traceback (most recent call last)" in output
    assert "no such table: no_such_table" in output
    assert "in broken_behind_a_boundary" in output, "the route's frame is in the traceback"


async def test_unavailable_database_is_a_503_logged_with_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    response, output = await call(tmp_path, capsys, "POST", "/fill", log_json=True)
    assert_silent_problem(response, 503, "DATABASE_UNAVAILABLE")
    assert response.headers["retry-after"] == "5"
    [event] = logged_events(output, "database_error")
    assert event["level"] == "error"
    assert event["sqlite_error"] == "SQLITE_FULL (13)"
    assert event["error"] == "database or disk is full"
    assert event["exception"][-1]["frames"]


async def test_unwrapped_driver_overflow_is_a_400_and_not_logged_as_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    response, output = await call(tmp_path, capsys, "POST", "/overflow", log_json=True)
    assert_silent_problem(response, 400, "INVALID_INPUT")
    assert str(2**64) not in response.text
    assert not logged_events(output, "database_error")
    assert not logged_events(output, "unhandled_error")
