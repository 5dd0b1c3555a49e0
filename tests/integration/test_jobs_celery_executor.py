"""What the Celery task does with a delivered job id, without a broker.

``CeleryJobExecutor.execute`` is the body of ``tiered.jobs.run``: it is called
here from a thread, as Celery's pool calls it, with a ``FrozenClock`` and a
publisher that records, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
import pytest_asyncio
from sqlalchemy import select
from tests.integration import celery_worker_app as worker_app
from tests.integration.celery_harness import RecordingPublisher, database_url

from tiered.clock import FrozenClock
from tiered.db import Database
from tiered.jobs import (
    Backoff,
    CeleryJobExecutor,
    JobContext,
    JobQueue,
    JobRef,
    JobStatus,
    JobStore,
    TaskRegistry,
)
from tiered.settings import AppSettings
from tiered.unit_of_work import UnitOfWork

registry = TaskRegistry()
outage = {"down": False}


@registry.task("echo", max_tries=2, backoff=Backoff(base=30, jitter=False))
async def echo(ctx: JobContext, payload: str) -> str:
    if outage["down"]:
        raise ConnectionError("upstream down")
    return f"{payload} on try {ctx.attempt}"


class CountdownPublisher(RecordingPublisher):
    def __init__(self) -> None:
        super().__init__()
        self.countdowns: list[float | None] = []

    async def publish(self, job: JobRef, *, countdown: float | None = None) -> None:
        self.countdowns.append(countdown)
        await super().publish(job, countdown=countdown)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    server = request.getfixturevalue("postgres_url") if kind == "postgres" else None
    async with database_url(kind, tmp_path, server) as ready:
        yield ready


@pytest_asyncio.fixture
async def database(url: str) -> AsyncIterator[Database]:
    database = Database.from_settings(AppSettings(environment="test", database_url=url))
    yield database
    await database.dispose()


@pytest_asyncio.fixture
async def executor(
    url: str, clock: FrozenClock
) -> AsyncIterator[tuple[CeleryJobExecutor, CountdownPublisher]]:
    outage["down"] = False
    settings = AppSettings(environment="test", database_url=url, jobs_lease_seconds=60)
    publisher = CountdownPublisher()
    ready = CeleryJobExecutor(
        settings, registry, worker_app.TABLES, publisher, clock=clock, max_countdown=300
    )
    yield ready, publisher
    await asyncio.to_thread(ready.close)


async def enqueue(database: Database, clock: FrozenClock, *, delay: float | None = None) -> UUID:
    queue = JobQueue(worker_app.TABLES, clock=clock)
    async with UnitOfWork(database.sessionmaker) as uow:
        return (await queue.enqueue(uow, echo, "hello", delay=delay)).job_id


async def dispatched_at(database: Database, job_id: UUID) -> object:
    jobs = worker_app.TABLES.jobs
    async with database.engine.connect() as connection:
        return await connection.scalar(select(jobs.c.dispatched_at).where(jobs.c.id == job_id))


async def test_a_delivery_runs_the_job_once_and_a_duplicate_runs_nothing(
    executor: tuple[CeleryJobExecutor, CountdownPublisher], database: Database, clock: FrozenClock
) -> None:
    run, publisher = executor
    job_id = await enqueue(database, clock)
    assert await asyncio.to_thread(run.execute, job_id) is JobStatus.SUCCEEDED
    assert await asyncio.to_thread(run.execute, job_id) is None
    record = await JobStore(database, worker_app.TABLES).get(job_id)
    assert record is not None
    assert (record.attempts, record.result) == (1, "hello on try 1")
    assert publisher.published == []


async def test_a_failed_try_is_published_again_with_its_backoff(
    executor: tuple[CeleryJobExecutor, CountdownPublisher], database: Database, clock: FrozenClock
) -> None:
    run, publisher = executor
    outage["down"] = True
    job_id = await enqueue(database, clock)
    assert await asyncio.to_thread(run.execute, job_id) is JobStatus.FAILED
    assert (publisher.published, publisher.countdowns) == ([job_id], [30.0])
    assert await dispatched_at(database, job_id) == clock.now() + timedelta(seconds=30)

    outage["down"] = False
    clock.advance(30)
    assert await asyncio.to_thread(run.execute, job_id) is JobStatus.SUCCEEDED
    assert publisher.published == [job_id]


async def test_a_message_that_comes_before_its_job_is_due_is_published_again(
    executor: tuple[CeleryJobExecutor, CountdownPublisher], database: Database, clock: FrozenClock
) -> None:
    run, publisher = executor
    job_id = await enqueue(database, clock, delay=2)  # this worker's clock is 2 s behind
    assert await asyncio.to_thread(run.execute, job_id) is None
    assert (publisher.published, publisher.countdowns) == ([job_id], [2.0])

    clock.advance(2)
    assert await asyncio.to_thread(run.execute, job_id) is JobStatus.SUCCEEDED
    assert await asyncio.to_thread(run.execute, job_id) is None  # done: ignored, not published
    assert publisher.published == [job_id]
