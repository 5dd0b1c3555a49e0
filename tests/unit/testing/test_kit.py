"""The testing kit's own behaviour."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tiered.app import create_app
from tiered.clock import FrozenClock, SystemClock
from tiered.db import Database
from tiered.repository import InMemoryStore
from tiered.settings import AppSettings
from tiered.testing import assert_max_queries, rollback_session

router = APIRouter()


@router.get("/now")
async def now() -> dict[str, str]:
    return {"status": "up"}


@pytest.fixture
def app(sqlite_url: str) -> FastAPI:
    return create_app(
        AppSettings(environment="test", database_url=sqlite_url), title="kit", routers=[router]
    )


async def test_client_fixture_runs_the_app(client: httpx.AsyncClient) -> None:
    assert (await client.get("/now")).json() == {"status": "up"}
    assert (await client.get("/health/ready")).status_code == 200


def test_frozen_clock_moves_only_when_told(clock: FrozenClock) -> None:
    start, mono = clock.now(), clock.monotonic()
    assert start == datetime(2026, 1, 1, tzinfo=UTC)
    assert (clock.now(), clock.monotonic()) == (start, mono)
    clock.advance(timedelta(minutes=2))
    assert clock.monotonic() - mono == 120.0
    clock.advance(0.5)
    clock.advance(0)
    assert clock.now() - start == timedelta(seconds=120.5)
    assert clock.monotonic() - mono == 120.5
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    assert clock.monotonic() - mono == 120.5
    assert clock.now() - start == timedelta(seconds=120.5)
    with pytest.raises(ValueError, match="aware"):
        FrozenClock(datetime(2026, 1, 1))


def test_system_clock_reads_the_real_clocks() -> None:
    clock = SystemClock()
    before = datetime.now(UTC)
    now = clock.now()
    assert now.tzinfo is UTC
    assert before <= now <= datetime.now(UTC)

    start = time.monotonic()
    readings = [clock.monotonic()]
    while time.monotonic() - start < 0.01:
        readings.append(clock.monotonic())
    end = time.monotonic()
    assert readings == sorted(readings), "monotonic went backwards"
    assert start <= readings[0] < readings[-1] <= end


class Note:
    id: int


def test_memory_store_fixture_is_empty(memory_store: InMemoryStore) -> None:
    assert type(memory_store) is InMemoryStore
    assert memory_store.table(Note) == {}


async def test_rollback_session_leaves_nothing_behind(sqlite_url: str) -> None:
    database = Database.from_settings(AppSettings(environment="test", database_url=sqlite_url))
    try:
        async with database.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
        async with rollback_session(database.engine) as session:
            await session.execute(text("INSERT INTO t VALUES (1)"))
            await session.commit()
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
        async with database.engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
    finally:
        await database.dispose()


async def test_assert_max_queries_counts_and_fails(sqlite_url: str) -> None:
    database = Database.from_settings(AppSettings(environment="test", database_url=sqlite_url))
    try:
        async with database.engine.connect() as connection:
            with assert_max_queries(2) as recorder:
                await connection.execute(text("SELECT 1"))
                await connection.execute(text("SELECT 2"))
            assert recorder.count == 2

            async def two_statements() -> None:
                with assert_max_queries(1):
                    await connection.execute(text("SELECT 1"))
                    await connection.execute(text("SELECT 2"))

            with pytest.raises(AssertionError, match="at most 1 statements, ran 2"):
                await two_statements()
    finally:
        await database.dispose()


@pytest.fixture
async def database(sqlite_url: str) -> AsyncIterator[Database]:
    database = Database.from_settings(AppSettings(environment="test", database_url=sqlite_url))
    async with database.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (body TEXT)"))
    yield database
    try:
        async with database.engine.connect() as connection:
            left = (await connection.execute(text("SELECT count(*) FROM notes"))).scalar_one()
        assert left == 0, "db_session did not roll back"
    finally:
        await database.dispose()


async def test_db_session_fixture_rolls_back(database: Database, db_session: AsyncSession) -> None:
    await db_session.execute(text("INSERT INTO notes VALUES ('draft')"))
    await db_session.commit()
    assert (await db_session.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 1


async def test_db_session_sets_up_an_async_database_fixture_itself(
    db_session: AsyncSession,
) -> None:
    """``database`` is not requested here: ``db_session`` runs the async fixture on its own."""
    await db_session.execute(text("INSERT INTO notes VALUES ('draft')"))
    assert (await db_session.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 1
