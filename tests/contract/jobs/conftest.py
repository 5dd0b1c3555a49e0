"""The ``jobs`` fixture: the jobs tables on a real database, SQLite and PostgreSQL alike.

Each test gets fresh tables (an SQLite file; on PostgreSQL a schema of its own),
a ``FrozenClock`` that only the test moves, and a registry of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from tiered.clock import FrozenClock
from tiered.db import Database
from tiered.jobs import (
    DeadLetterQueue,
    InProcessDispatcher,
    JobQueue,
    JobRef,
    JobStore,
    JobTables,
    JobWorker,
    TaskRegistry,
    jobs_tables,
)
from tiered.testing import scratch_database
from tiered.unit_of_work import UnitOfWork

metadata = MetaData()
TABLES = jobs_tables(metadata)
effects = Table(
    "job_test_effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("label", String(100), nullable=False),
)


class RecordingDispatcher(InProcessDispatcher):
    """Wakes subscribed workers, and remembers what it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.dispatched: list[JobRef] = []

    async def dispatch(self, job: JobRef) -> None:
        self.dispatched.append(job)
        await super().dispatch(job)


@dataclass
class Jobs:
    database: Database
    tables: JobTables
    clock: FrozenClock
    registry: TaskRegistry = field(default_factory=TaskRegistry)
    dispatcher: RecordingDispatcher = field(default_factory=RecordingDispatcher)

    @property
    def queue(self) -> JobQueue:
        return JobQueue(self.tables, dispatcher=self.dispatcher, clock=self.clock)

    @property
    def store(self) -> JobStore:
        return JobStore(self.database, self.tables, clock=self.clock)

    @property
    def dead_letters(self) -> DeadLetterQueue:
        return DeadLetterQueue(
            self.database, self.tables, clock=self.clock, dispatcher=self.dispatcher
        )

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.database.sessionmaker)

    def worker(self, **options: Any) -> JobWorker:
        options.setdefault("random", Random(7))
        return JobWorker(self.database, self.tables, self.registry, clock=self.clock, **options)

    async def record_effect(self, uow: UnitOfWork, label: str) -> None:
        await uow.session.execute(insert(effects).values(label=label))

    async def effects(self) -> list[str]:
        async with self.uow().read_only() as uow:
            return list(await uow.session.scalars(select(effects.c.label).order_by(effects.c.id)))

    async def count_jobs(self) -> int:
        async with self.uow().read_only() as uow:
            found = await uow.session.scalar(select(func.count()).select_from(self.tables.jobs))
        return int(found or 0)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def jobs_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest_asyncio.fixture
async def jobs(jobs_database_url: str, clock: FrozenClock) -> AsyncIterator[Jobs]:
    async with scratch_database(jobs_database_url, metadata) as database:
        yield Jobs(database, TABLES, clock)
