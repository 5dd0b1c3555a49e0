"""Read models are fetched on the session's driver connection, and nothing else changes.

On SQLite, and on PostgreSQL in autocommit (a read-only unit of work): the
rows, the statement recorders, the classification of errors and the statement
SQLAlchemy logs with ``echo`` are the same as on SQLAlchemy's own path; only
the cost differs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from tests.contract.repository.domain import (
    Item,
    ItemRepository,
    ItemSummary,
    Owner,
    OwnerRepository,
    metadata,
)

from tiered.db import Database, record_statements
from tiered.errors import DatabaseMisuseError
from tiered.repository import CursorPage, Filter, OffsetPage, Op, SortKey
from tiered.settings import AppSettings
from tiered.testing import scratch_postgres_database

pytestmark = pytest.mark.asyncio

_START = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest_asyncio.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}"
        return
    async with scratch_postgres_database(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest_asyncio.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database.from_settings(AppSettings(environment="test", database_url=database_url))
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    async with database.session() as session:
        owners = [Owner(uuid.uuid4(), name) for name in ("Zoë", "Łukasz")]
        await OwnerRepository(session).create_many(owners)
        await ItemRepository(session).create_many(
            [
                Item(
                    uuid.uuid4(),
                    f"item {index} «ünïcode» {'x' * index}",
                    owners[index % 2].id,
                    ("open", "closed", "draft")[index % 3],
                    Decimal(index) / 4,
                    _START + timedelta(minutes=index),
                )
                for index in range(12)
            ]
        )
        await session.commit()
    yield database
    await database.dispose()


@contextmanager
def sqlalchemy_cursor_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """What goes through SQLAlchemy's own cursor execution."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("SELECT"):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


@asynccontextmanager
async def reading(database: Database) -> AsyncIterator[AsyncSession]:
    """A session as a read-only unit of work opens it: in autocommit on PostgreSQL."""
    async with database.session() as session:
        if database.url.get_backend_name() == "postgresql":
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


async def _pages(session: AsyncSession) -> list[Any]:
    items = ItemRepository(session)
    status = [Filter("status", Op.IN, ("open", "closed", None))]
    offset = await items.find(
        status,
        search="ünï",
        sort=[SortKey("score", descending=True)],
        page=OffsetPage(limit=5, offset=0),
        load=(),
        into=ItemSummary,
    )
    cursor = await items.find(
        [Filter("score", Op.GTE, Decimal("0.5"))],
        sort=[SortKey("created_at")],
        page=CursorPage(limit=3, after=None),
        into=ItemSummary,
    )
    following = await items.find(
        [Filter("score", Op.GTE, Decimal("0.5"))],
        sort=[SortKey("created_at")],
        page=CursorPage(limit=3, after=cursor.next_after),
        into=ItemSummary,
    )
    one = await items.find_one([Filter.eq("name", "item 3 «ünïcode» xxx")], into=ItemSummary)
    return [offset, cursor, following, one]


async def test_a_read_model_page_runs_on_the_driver_connection(database: Database) -> None:
    async with reading(database) as session:
        with (
            sqlalchemy_cursor_statements(database.engine) as through_sqlalchemy,
            record_statements() as recorded,
        ):
            offset, cursor, following, one = await _pages(session)
    assert through_sqlalchemy == []
    assert recorded.count == 4, "every statement is still shown to the recorders"
    assert offset.total == 8
    assert len(offset.items) == 5
    assert [item.score for item in offset.items] == sorted(
        (item.score for item in offset.items), reverse=True
    )
    assert all(
        item.owner is not None and item.owner.name in ("Zoë", "Łukasz") for item in offset.items
    )
    assert len(cursor.items) == 3
    assert cursor.next_after is not None
    assert {item.id for item in cursor.items}.isdisjoint(item.id for item in following.items)
    assert one is not None
    assert one.score == Decimal("0.75")


async def test_the_rows_are_those_sqlalchemy_returns(database: Database) -> None:
    async with reading(database) as session:
        fast = await _pages(session)
    url = database.url.render_as_string(hide_password=False)
    settings = AppSettings(environment="test", database_url=url, database_echo=True)
    echoing = Database.from_settings(settings)
    try:
        async with reading(echoing) as session:
            with sqlalchemy_cursor_statements(echoing.engine) as through_sqlalchemy:
                slow = await _pages(session)
    finally:
        await echoing.dispose()
    assert len(through_sqlalchemy) == 4, "with echo on, SQLAlchemy runs (and logs) them"
    for fast_page, slow_page in zip(fast[:3], slow[:3], strict=True):
        assert fast_page.items == slow_page.items
        assert (fast_page.total, fast_page.next_after) == (slow_page.total, slow_page.next_after)
        assert fast_page.items, "pages under comparison are not empty"
    assert fast[3] == slow[3]
    created = fast[0].items[0]
    assert isinstance(created.id, uuid.UUID)
    assert isinstance(created.score, Decimal)


async def test_a_driver_error_is_classified_as_on_sqlalchemys_path(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(text("DROP TABLE contract_items"))
    async with reading(database) as session:
        with (
            sqlalchemy_cursor_statements(database.engine) as through_sqlalchemy,
            pytest.raises(DatabaseMisuseError) as raised,
        ):
            await ItemRepository(session).find(into=ItemSummary)
    assert through_sqlalchemy == []
    assert re.search(r"no such table|does not exist", str(raised.value.__cause__))


async def test_a_schema_translate_map_keeps_sqlalchemys_path(database: Database) -> None:
    schema = "main" if database.url.get_backend_name() == "sqlite" else "public"
    translated = Database(database.engine.execution_options(schema_translate_map={None: schema}))
    async with reading(translated) as session:
        with sqlalchemy_cursor_statements(translated.engine) as through_sqlalchemy:
            page = await ItemRepository(session).find(into=ItemSummary)
    assert page.total == 12
    (statement,) = through_sqlalchemy
    assert f"{schema}.contract_items" in statement


@pytest.mark.postgres
async def test_inside_a_postgres_transaction_sqlalchemy_runs_the_statement(
    postgres_url: str,
) -> None:
    """SQLAlchemy's asyncpg adapter begins its transaction with the first statement it runs:
    one run beside it could land outside the transaction."""
    async with scratch_postgres_database(postgres_url) as url:
        database = Database.from_settings(AppSettings(environment="test", database_url=url))
        try:
            async with database.engine.begin() as connection:
                await connection.run_sync(metadata.create_all)
            async with database.session() as session, session.begin():
                with sqlalchemy_cursor_statements(database.engine) as through_sqlalchemy:
                    page = await ItemRepository(session).find(into=ItemSummary)
            assert page.total == 0
            assert len(through_sqlalchemy) == 1
        finally:
            await database.dispose()
