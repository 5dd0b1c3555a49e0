"""The ``backend`` fixture: the same repositories on memory, SQLite and PostgreSQL.

SQL schemas are created once per session with ``tiered.testing.scratch_database``
(PostgreSQL: in a schema of its own, dropped at the end); every test then runs
inside one outer transaction that is rolled back, with the session joined
through a SAVEPOINT, so no test leaves a row behind.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from tests.contract.repository.domain import (
    Item,
    ItemRepository,
    Owner,
    OwnerRepository,
    metadata,
)

from tiered.db.statements import StatementRecorder, record_statements
from tiered.repository import InMemorySession, InMemoryStore
from tiered.testing import scratch_database

ItemRepo = ItemRepository
OwnerRepo = OwnerRepository


# The engines live for the session, so every test of this suite shares one event loop
# (`pytestmark = pytest.mark.asyncio(loop_scope="session")` in each module): a pooled
# connection belongs to the loop that opened it.


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sqlite_contract_engine(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[AsyncEngine]:
    path: Path = tmp_path_factory.mktemp("contract") / "contract.db"
    async with scratch_database(f"sqlite+aiosqlite:///{path}", metadata) as database:
        yield database.engine


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def postgres_contract_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    async with scratch_database(postgres_url, metadata) as database:
        yield database.engine


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def sql_engine_or_memory(request: pytest.FixtureRequest) -> AsyncEngine | None:
    """``None`` for the memory backend; the session-wide engine otherwise."""
    if request.param == "memory":
        return None
    engine: AsyncEngine = request.getfixturevalue(f"{request.param}_contract_engine")
    return engine


@dataclass
class Repos:
    items: ItemRepo
    owners: OwnerRepo


@dataclass
class Backend:
    """The repositories under test, plus what a test needs to look behind them."""

    name: str
    items: ItemRepo
    owners: OwnerRepo
    memory: InMemorySession | None = None
    session: AsyncSession | None = None
    connection: AsyncConnection | None = None

    @property
    def is_sql(self) -> bool:
        return self.session is not None

    async def reload(self) -> None:
        """Flush and forget loaded entities, so the next read comes from the database."""
        if self.session is not None:
            await self.session.flush()
            self.session.expunge_all()
        elif self.memory is not None:
            self.memory.flush()
            self.memory.expunge_all()

    @contextmanager
    def count_statements(self) -> Iterator[StatementRecorder]:
        """The SQL statements executed inside the block (none in memory)."""
        with record_statements() as recorder:
            yield recorder

    @asynccontextmanager
    async def other_writer(self) -> AsyncIterator[Repos]:
        """Repositories of a second, independent writer (a second session on SQL)."""
        if self.memory is not None:
            other = InMemorySession(self.memory.store)
            yield Repos(ItemRepository(other), OwnerRepository(other))
            other.commit()
            return
        assert self.connection is not None
        session = AsyncSession(
            bind=self.connection,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
            autoflush=False,
        )
        try:
            yield Repos(ItemRepository(session), OwnerRepository(session))
            await session.commit()
        finally:
            await session.close()


@pytest_asyncio.fixture(loop_scope="session")
async def backend(sql_engine_or_memory: AsyncEngine | None) -> AsyncIterator[Backend]:
    engine = sql_engine_or_memory
    if engine is None:
        # Writes through, as the SQL backend's flushes reach the shared connection.
        memory = InMemorySession(InMemoryStore(), autocommit=True)
        yield Backend("memory", ItemRepository(memory), OwnerRepository(memory), memory=memory)
        return
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
            autoflush=False,
        )
        try:
            yield Backend(
                engine.dialect.name,
                ItemRepository(session),
                OwnerRepository(session),
                session=session,
                connection=connection,
            )
        finally:
            await session.close()
            await transaction.rollback()


# -- seed data ------------------------------------------------------------------------

BASE_TIME = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
NAMES = (
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
)
SCORES = tuple(
    Decimal(text) for text in ("5.25", "3.5", "5.25", "1", "3.5", "5.25", "2.75", "3.5", "1", "8")
)
STATUSES = ("open", "closed", "draft")


@dataclass(frozen=True)
class Row:
    """What a test expects of one seeded item (immutable, unlike the entities)."""

    id: uuid.UUID
    name: str
    owner_id: uuid.UUID
    status: str
    score: Decimal
    created_at: datetime


@dataclass(frozen=True)
class Catalog:
    ada: Owner
    bob: Owner
    rows: tuple[Row, ...]

    def by_name(self, name: str) -> Row:
        return next(row for row in self.rows if row.name == name)


def new_item(
    owner: Owner,
    name: str,
    *,
    score: Decimal = Decimal("1"),
    status: str = "open",
    created_at: datetime = BASE_TIME,
    item_id: uuid.UUID | None = None,
) -> Item:
    return Item(
        id=item_id or uuid.uuid4(),
        name=name,
        owner_id=owner.id,
        status=status,
        score=score,
        created_at=created_at,
    )


@pytest_asyncio.fixture(loop_scope="session")
async def catalog(backend: Backend) -> Catalog:
    """Two owners and ten items whose scores repeat (for tie-breaking and cursors)."""
    ada = Owner(uuid.uuid4(), "ada")
    bob = Owner(uuid.uuid4(), "bob")
    await backend.owners.create_many([ada, bob])
    rows = tuple(
        Row(
            uuid.uuid4(),
            name,
            (ada if index % 2 == 0 else bob).id,
            STATUSES[index % 3],
            SCORES[index],
            BASE_TIME + timedelta(hours=index),
        )
        for index, name in enumerate(NAMES)
    )
    await backend.items.create_many(
        Item(row.id, row.name, row.owner_id, row.status, row.score, row.created_at) for row in rows
    )
    await backend.reload()
    return Catalog(ada, bob, rows)
