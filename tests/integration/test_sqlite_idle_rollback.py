"""SQLite gets a ROLLBACK only when a transaction is open: reads cost no round trip for it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession
from tests.contract.repository.domain import Owner, OwnerRepository, metadata

from tiered.db import Database
from tiered.repository import InMemorySession
from tiered.testing import scratch_database
from tiered.unit_of_work import UnitOfWork


class Owners(UnitOfWork):
    owners: OwnerRepository

    def create_repositories(self, session: AsyncSession | InMemorySession) -> None:
        self.owners = OwnerRepository(session)


class UseCaseError(Exception):
    pass


@pytest_asyncio.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    async with scratch_database(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", metadata) as db:
        yield db


@pytest.fixture
def rollbacks(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each ROLLBACK sent to SQLite, with whether a transaction was open."""
    sent: list[bool] = []
    original = aiosqlite.Connection.rollback

    async def rollback(self: aiosqlite.Connection) -> None:
        sent.append(self.in_transaction)
        await original(self)

    monkeypatch.setattr(aiosqlite.Connection, "rollback", rollback)
    return sent


async def test_a_read_sends_no_rollback(database: Database, rollbacks: list[bool]) -> None:
    async with Owners(database.sessionmaker).read_only() as reader:
        assert await reader.owners.get_all() == []
    async with Owners(database.sessionmaker) as uow:
        assert await uow.owners.get_all() == []
    assert rollbacks == []


async def test_a_committed_write_sends_no_rollback(
    database: Database, rollbacks: list[bool]
) -> None:
    async with Owners(database.sessionmaker) as uow:
        await uow.owners.create(Owner(uuid.uuid4(), "Zoë"))
    assert rollbacks == []
    async with Owners(database.sessionmaker).read_only() as reader:
        assert [owner.name for owner in await reader.owners.get_all()] == ["Zoë"]


async def test_a_failed_write_is_rolled_back(database: Database, rollbacks: list[bool]) -> None:
    async def use_case() -> None:
        async with Owners(database.sessionmaker) as uow:
            await uow.owners.create(Owner(uuid.uuid4(), "Łukasz"))
            assert await uow.owners.count() == 1
            raise UseCaseError

    with pytest.raises(UseCaseError):
        await use_case()
    assert rollbacks == [True]
    async with Owners(database.sessionmaker).read_only() as reader:
        assert await reader.owners.get_all() == []


async def test_a_connection_left_in_a_transaction_is_rolled_back_on_release(
    database: Database, rollbacks: list[bool]
) -> None:
    async with database.engine.connect() as connection:
        await connection.exec_driver_sql("INSERT INTO contract_owners (id, name) VALUES ('x', 'y')")
        raw = await connection.get_raw_connection()
        assert raw.driver_connection is not None
        assert raw.driver_connection.in_transaction
    assert rollbacks == [True]
    async with database.engine.connect() as connection:
        count = await connection.exec_driver_sql("SELECT count(*) FROM contract_owners")
        assert count.scalar_one() == 0
