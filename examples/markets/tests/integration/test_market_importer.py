"""The import job on a real database: progress commits with each batch, a retry repeats none.

The second batch fails once (the connection drops): the job's first try ends
with two markets written and its progress saying so; the retry skips the
batch already written and finishes, so every row is created exactly once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from markets.domain.users import Actor
from markets.repositories.tables import JOB_TABLES, markets
from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.market_import import MarketImporter
from markets.services.tasks import IMPORT_MARKETS, MarketImport, bind
from tiered.clock import FrozenClock
from tiered.db import Database
from tiered.jobs import JobQueue, JobStatus, JobStore, JobWorker, TaskRegistry

ROWS = "name\n" + "".join(f"Rain on day {day}?\n" for day in range(1, 6))


class DropsOnce:
    """Unit-of-work factory whose ``create_many`` fails on the second batch, the first time."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.batches: list[int] = []

    def __call__(self) -> MarketsUnitOfWork:
        batches = self.batches

        class Flaky(MarketsUnitOfWork):
            def create_repositories(self, session: AsyncSession) -> None:  # type: ignore[override]
                super().create_repositories(session)
                create_many = self.markets.create_many

                async def flaky(entities: list[Any]) -> list[Any]:
                    batches.append(len(entities))
                    if len(batches) == 2:
                        raise ConnectionResetError("the database went away")
                    return await create_many(entities)

                self.markets.create_many = flaky  # type: ignore[method-assign]

        return Flaky(self.database.sessionmaker)


async def count(database: Database, query: Any) -> int:
    async with database.engine.connect() as connection:
        return int(await connection.scalar(query) or 0)


async def test_progress_commits_with_each_batch_and_a_retry_repeats_none(
    database: Database, people: dict[str, Actor]
) -> None:
    clock = FrozenClock()
    factory = DropsOnce(database)
    registry = TaskRegistry()
    registry.register(bind(IMPORT_MARKETS, MarketImporter(factory, clock, batch_size=2).run))
    worker = JobWorker(database, JOB_TABLES, registry, clock=clock)
    store = JobStore(database, JOB_TABLES, clock=clock)
    alice = people["alice"].user_id
    async with MarketsUnitOfWork(
        database.sessionmaker, jobs=JobQueue(JOB_TABLES, clock=clock)
    ) as uow:
        payload = MarketImport(creator_id=alice, filename="days.csv", content=ROWS)
        job_id = (await uow.jobs.enqueue(IMPORT_MARKETS, payload, owner_id=str(alice))).job_id
    created = select(func.count()).select_from(markets).where(markets.c.creator_id == alice)

    assert await worker.run_due() == 1
    first = await store.get(job_id)
    assert first is not None
    assert (first.status, first.attempts, first.error) == (
        JobStatus.FAILED,
        1,
        "ConnectionResetError: the database went away",
    )
    assert first.progress is not None
    assert (first.progress.done, first.progress.total) == (2, 5)
    assert await count(database, created) == 2

    clock.advance(600)
    assert await worker.run_due() == 1
    done = await store.get(job_id)
    assert done is not None
    assert done.status is JobStatus.SUCCEEDED
    assert done.progress is not None
    assert (done.progress.done, done.progress.total) == (5, 5)
    assert done.result == {
        "filename": "days.csv",
        "rows": 5,
        "created": 5,
        "rejected": 0,
        "errors": [],
    }
    assert factory.batches == [2, 2, 2, 1], "the written first batch was not written again"
    assert await count(database, created) == 5
    executions = select(func.count()).select_from(JOB_TABLES.executions)
    assert await count(database, executions) == 3
