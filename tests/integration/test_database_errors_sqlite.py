"""Database errors from a real SQLite file translate to the right application errors."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from tiered.db import Database, translate_database_error
from tiered.errors import (
    AppError,
    ConflictError,
    DatabaseUnavailableError,
    DuplicateResourceError,
    InvalidInputError,
)
from tiered.settings import AppSettings

INSERT = "INSERT INTO account (email, team_id, balance) VALUES (:email, :team, :balance)"


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


async def insert(
    engine: AsyncEngine, email: str | None, team: int | None = 1, balance: int = 0
) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(INSERT), {"email": email, "team": team, "balance": balance})


async def translated(
    engine: AsyncEngine, email: str | None, team: int | None = 1, balance: int = 0
) -> AppError:
    with pytest.raises(sa_exc.IntegrityError) as caught:
        await insert(engine, email, team, balance)
    error = translate_database_error(caught.value)
    assert error is not None
    assert "INSERT" not in error.message
    assert "constraint failed" not in error.message
    return error


async def test_unique_violation_names_the_column(engine: AsyncEngine) -> None:
    await insert(engine, "ada@example.com")
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
    await insert(engine, "ada@example.com", team=1)
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

    await insert(engine, "ada@example.com")
    sessions = async_sessionmaker(engine)
    with pytest.raises(sa_exc.IntegrityError) as caught:
        async with sessions() as session, session.begin():
            await session.execute(
                text(INSERT), {"email": "ada@example.com", "team": 1, "balance": 0}
            )
    error = translate_database_error(caught.value)
    assert isinstance(error, DuplicateResourceError)
    assert error.details == {"constraint": "account.email"}


async def test_locked_database_is_unavailable(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/locked.db"
    holder = create_async_engine(url)
    waiter = create_async_engine(url, connect_args={"timeout": 0})
    try:
        async with holder.connect() as connection:
            await connection.execute(text("CREATE TABLE t (v INTEGER)"))
            await connection.commit()
            await connection.exec_driver_sql("BEGIN EXCLUSIVE")
            with pytest.raises(sa_exc.OperationalError) as caught:
                async with waiter.begin() as other:
                    await other.execute(text("INSERT INTO t (v) VALUES (1)"))
            await connection.rollback()
        assert "locked" in str(caught.value.orig)
        error = translate_database_error(caught.value)
        assert isinstance(error, DatabaseUnavailableError)
        assert (error.status, error.code) == (503, "DATABASE_UNAVAILABLE")
        assert error.headers() == {"Retry-After": "5"}
    finally:
        await holder.dispose()
        await waiter.dispose()


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


async def test_errors_that_are_not_database_errors_are_not_translated() -> None:
    assert translate_database_error(ValueError("x")) is None
    assert translate_database_error(sa_exc.NoResultFound()) is None


@pytest.mark.parametrize(
    "sql", ["SELECT * FROM no_such_table", "SELECT no_such_column FROM team", "SELEC 1"]
)
async def test_programming_errors_are_not_translated(engine: AsyncEngine, sql: str) -> None:
    with pytest.raises(sa_exc.DBAPIError) as caught:
        async with engine.connect() as connection:
            await connection.execute(text(sql))
    assert translate_database_error(caught.value) is None, "a bug must surface as a logged 500"


async def test_wrong_bind_count_is_not_translated(engine: AsyncEngine) -> None:
    with pytest.raises(sa_exc.DBAPIError) as caught:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT ?, ?", (1,))
    assert translate_database_error(caught.value) is None
