"""Real databases in tests that leave nothing behind.

``scratch_database`` creates the tables a suite needs and removes them after;
``scratch_postgres_database`` a whole PostgreSQL database (for migrations, or an
app that builds its own engine), dropped after;
``rollback_session`` joins an outer transaction with ``create_savepoint``, so
code under test may commit (it releases a savepoint) and the test still leaves
no row behind.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import MetaData, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from tiered.db.engine import Database, is_sqlite
from tiered.settings import AppSettings

__all__ = ["rollback_session", "scratch_database", "scratch_postgres_database"]


@asynccontextmanager
async def rollback_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


@asynccontextmanager
async def scratch_database(url: str, metadata: MetaData) -> AsyncIterator[Database]:
    """A :class:`Database` holding ``metadata``'s tables, removed afterwards.

    On PostgreSQL the tables live in a schema of their own (dropped at the end),
    so concurrent test runs on one server never collide; on SQLite they are
    created in the given file and dropped.
    """
    plain = Database.from_settings(AppSettings(environment="test", database_url=url))
    schema = f"tiered_test_{uuid.uuid4().hex[:12]}" if not is_sqlite(url) else None
    database = (
        Database(plain.engine.execution_options(schema_translate_map={None: schema}))
        if schema
        else plain
    )
    try:
        if schema:
            async with plain.engine.begin() as connection:
                await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        async with database.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        yield database
    finally:
        async with database.engine.begin() as connection:
            if schema:
                await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            else:
                await connection.run_sync(metadata.drop_all)
        await plain.dispose()


@asynccontextmanager
async def scratch_postgres_database(server_url: str, prefix: str = "tiered") -> AsyncIterator[str]:
    """The URL of a new, empty database on ``server_url``'s server, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
