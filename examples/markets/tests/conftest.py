"""Fixtures of the markets tests: both databases, a fresh one per test.

The suite runs in ``MARKETS_ENVIRONMENT=test`` (the default, ``production``,
refuses the development secrets); set before any settings are built, and
inherited by the ``markets`` processes the end-to-end tests start.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from markets.config import Settings
from markets.domain.users import Actor, Role, User
from markets.migrate import upgrade
from markets.repositories.unit_of_work import MarketsUnitOfWork
from tiered.db import Database
from tiered.testing import scratch_postgres_database

os.environ["MARKETS_ENVIRONMENT"] = "test"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'markets.db'}"


@pytest.fixture
async def fresh_postgres_url(postgres_url: str) -> AsyncIterator[str]:
    """A database of its own, dropped afterwards: migrations start from nothing."""
    async with scratch_postgres_database(postgres_url, "markets_test") as url:
        yield url


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    if request.param == "sqlite":
        return sqlite_url
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated database (SQLite file or a fresh PostgreSQL database)."""
    await asyncio.to_thread(upgrade, database_url)
    database = Database.from_settings(Settings(environment="test", database_url=database_url))
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def new_uow(database: Database) -> Callable[[], MarketsUnitOfWork]:
    return lambda: MarketsUnitOfWork(database.sessionmaker)


@pytest.fixture
async def people(new_uow: Callable[[], MarketsUnitOfWork]) -> dict[str, Actor]:
    """alice and bob (users) and mona (moderator), stored."""
    actors = {}
    async with new_uow() as uow:
        for name, role in (("alice", Role.USER), ("bob", Role.USER), ("mona", Role.MODERATOR)):
            user = await uow.users.create(
                User(uuid.uuid4(), f"{name}@example.com", name.title(), role=role)
            )
            actors[name] = Actor(user.id, role)
    return actors
