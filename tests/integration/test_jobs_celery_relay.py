"""The relay and the Celery dispatcher against the jobs table, on SQLite and PostgreSQL.

No broker here: a recording publisher stands in for Celery, and a
``FrozenClock`` moves time, so each rule of "which job needs a message" is
checked exactly. Two relays racing on PostgreSQL never publish one job twice.
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
from tests.integration.celery_harness import RecordingPublisher

from tiered.app import create_app
from tiered.clock import FrozenClock, SystemClock
from tiered.db import Database
from tiered.jobs import (
    CeleryDispatcher,
    CeleryPublisher,
    Dispatcher,
    JobQueue,
    JobRef,
    JobRelay,
    JobRelayOptions,
    JobStatus,
    JobStore,
    celery_app,
    job_relay_resource,
)
from tiered.settings import AppSettings
from tiered.testing import app_client, scratch_database
from tiered.unit_of_work import UnitOfWork

GRACE = 5.0
REDISPATCH_AFTER = 600.0
OPTIONS = JobRelayOptions(interval=1.0, redispatch_after=REDISPATCH_AFTER, grace=GRACE)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
    server: str = request.getfixturevalue("postgres_url")
    return server


@pytest_asyncio.fixture
async def database(url: str) -> AsyncIterator[Database]:
    async with scratch_database(url, worker_app.metadata) as ready:
        yield ready


class FailingPublisher(RecordingPublisher):
    """Publishes ``succeed`` jobs, then raises as a broker that went away would."""

    def __init__(self, succeed: int = 0) -> None:
        super().__init__()
        self.succeed = succeed

    async def publish(self, job: JobRef, *, countdown: float | None = None) -> None:
        if len(self.published) >= self.succeed:
            raise ConnectionError("broker unreachable")
        await super().publish(job, countdown=countdown)


class CountdownPublisher(RecordingPublisher):
    def __init__(self) -> None:
        super().__init__()
        self.countdowns: list[float | None] = []

    async def publish(self, job: JobRef, *, countdown: float | None = None) -> None:
        self.countdowns.append(countdown)
        await super().publish(job, countdown=countdown)


async def enqueue(
    database: Database,
    clock: FrozenClock,
    *,
    delay: float | None = None,
    dispatcher: Dispatcher | None = None,
) -> UUID:
    queue = JobQueue(worker_app.TABLES, clock=clock, dispatcher=dispatcher)
    async with UnitOfWork(database.sessionmaker) as uow:
        enqueued = await queue.enqueue(
            uow, worker_app.ship, worker_app.Shipment(label="x"), delay=delay
        )
    return enqueued.job_id


def relay(database: Database, clock: FrozenClock, publisher: RecordingPublisher) -> JobRelay:
    return JobRelay(database, worker_app.TABLES, publisher, options=OPTIONS, clock=clock)


async def dispatched_at(database: Database, job_id: UUID) -> object:
    jobs = worker_app.TABLES.jobs
    async with database.engine.connect() as connection:
        return await connection.scalar(select(jobs.c.dispatched_at).where(jobs.c.id == job_id))


async def test_a_job_never_published_is_published_once_after_the_grace(
    database: Database, clock: FrozenClock
) -> None:
    publisher = RecordingPublisher()
    job_id = await enqueue(database, clock)
    assert await relay(database, clock, publisher).publish_due() == 0  # the dispatcher's turn

    clock.advance(GRACE)
    assert await relay(database, clock, publisher).publish_due() == 1
    assert await relay(database, clock, publisher).publish_due() == 0
    assert publisher.published == [job_id]
    assert await dispatched_at(database, job_id) == clock.now()


async def test_a_delayed_job_is_published_when_it_is_due(
    database: Database, clock: FrozenClock
) -> None:
    publisher = RecordingPublisher()
    job_id = await enqueue(database, clock, delay=3600)
    clock.advance(3600 + GRACE - 1)
    assert await relay(database, clock, publisher).publish_due() == 0
    clock.advance(1)
    assert await relay(database, clock, publisher).publish_due() == 1
    assert publisher.published == [job_id]


async def test_a_published_job_is_published_again_only_once_the_broker_must_have_lost_it(
    database: Database, clock: FrozenClock
) -> None:
    dispatched = RecordingPublisher()
    dispatcher = CeleryDispatcher(dispatched, worker_app.TABLES, database=database, clock=clock)
    job_id = await enqueue(database, clock, dispatcher=dispatcher)
    assert dispatched.published == [job_id]

    relayed = RecordingPublisher()
    clock.advance(REDISPATCH_AFTER - 1)
    assert await relay(database, clock, relayed).publish_due() == 0
    clock.advance(1)
    assert await relay(database, clock, relayed).publish_due() == 1
    assert await relay(database, clock, relayed).publish_due() == 0
    assert relayed.published == [job_id]


async def test_a_retry_is_published_when_it_comes_due(
    database: Database, clock: FrozenClock
) -> None:
    dispatcher = CeleryDispatcher(
        RecordingPublisher(), worker_app.TABLES, database=database, clock=clock
    )
    job_id = await enqueue(database, clock, dispatcher=dispatcher)
    store = JobStore(database, worker_app.TABLES, clock=clock)
    claimed = await store.claim_by_id(job_id, "worker-1", lease=60)
    assert claimed is not None
    assert await store.fail(claimed, "boom", retry_at=clock.now() + timedelta(seconds=30))

    relayed = RecordingPublisher()
    clock.advance(30 + GRACE - 1)
    assert await relay(database, clock, relayed).publish_due() == 0
    clock.advance(1)
    assert await relay(database, clock, relayed).publish_due() == 1
    assert relayed.published == [job_id]


async def test_a_killed_worker_s_job_is_published_once_its_lease_has_expired(
    database: Database, clock: FrozenClock
) -> None:
    dispatcher = CeleryDispatcher(
        RecordingPublisher(), worker_app.TABLES, database=database, clock=clock
    )
    job_id = await enqueue(database, clock, dispatcher=dispatcher)
    store = JobStore(database, worker_app.TABLES, clock=clock)
    assert await store.claim_by_id(job_id, "killed-worker", lease=60) is not None

    relayed = RecordingPublisher()
    clock.advance(60 + GRACE - 1)
    assert await relay(database, clock, relayed).publish_due() == 0  # the lease still holds
    clock.advance(1)
    assert await relay(database, clock, relayed).publish_due() == 1
    assert await relay(database, clock, relayed).publish_due() == 0
    assert relayed.published == [job_id]

    again = await store.claim_by_id(job_id, "next-worker", lease=60)
    assert again is not None
    assert again.attempt == 2
    clock.advance(10)
    assert await relay(database, clock, relayed).publish_due() == 0  # running under a live lease


async def test_a_failed_publish_records_what_went_out_and_leaves_the_rest(
    database: Database, clock: FrozenClock
) -> None:
    first = await enqueue(database, clock)
    clock.advance(1)
    second = await enqueue(database, clock)
    clock.advance(GRACE)

    failing = FailingPublisher(succeed=1)
    with pytest.raises(ConnectionError):
        await relay(database, clock, failing).publish_due()
    assert failing.published == [first]
    assert await dispatched_at(database, first) == clock.now()
    assert await dispatched_at(database, second) is None

    working = RecordingPublisher()
    assert await relay(database, clock, working).publish_due() == 1
    assert working.published == [second]


async def test_the_dispatcher_publishes_at_commit_with_a_countdown_and_never_raises(
    database: Database, clock: FrozenClock
) -> None:
    publisher = CountdownPublisher()
    dispatcher = CeleryDispatcher(
        publisher, worker_app.TABLES, database=database, clock=clock, max_countdown=300
    )
    now_id = await enqueue(database, clock, dispatcher=dispatcher)
    soon_id = await enqueue(database, clock, delay=120, dispatcher=dispatcher)
    later_id = await enqueue(database, clock, delay=301, dispatcher=dispatcher)
    assert publisher.published == [now_id, soon_id]  # the later one is the relay's
    assert publisher.countdowns == [None, 120.0]
    assert await dispatched_at(database, soon_id) == clock.now() + timedelta(seconds=120)

    broken = CeleryDispatcher(FailingPublisher(), worker_app.TABLES, database=database, clock=clock)
    lost_id = await enqueue(database, clock, dispatcher=broken)  # no exception
    assert await dispatched_at(database, lost_id) is None

    relayed = RecordingPublisher()
    clock.advance(301 + GRACE)
    assert await relay(database, clock, relayed).publish_due() == 2
    assert set(relayed.published) == {later_id, lost_id}


async def test_a_publish_to_an_unreachable_broker_fails_without_losing_the_job(
    database: Database, clock: FrozenClock
) -> None:
    settings = AppSettings(
        environment="test",
        database_url=str(database.url),
        jobs_broker_url="redis://127.0.0.1:9/0",  # the discard port: nothing listens
    )
    app = celery_app(settings, worker_app.registry, worker_app.TABLES)
    publisher = CeleryPublisher(app, timeout=20)
    with pytest.raises(Exception, match=r"(?i)connect|refused"):
        await publisher.publish(JobRef(UUID(int=1), "ship", clock.now()))

    dispatcher = CeleryDispatcher(publisher, worker_app.TABLES, database=database, clock=clock)
    job_id = await enqueue(database, clock, dispatcher=dispatcher)
    record = await JobStore(database, worker_app.TABLES).get(job_id)
    assert record is not None
    assert record.status is JobStatus.QUEUED
    assert await dispatched_at(database, job_id) is None
    app.close()


class GatedPublisher(RecordingPublisher):
    """Holds its first publish until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = asyncio.Event()
        self.gate = asyncio.Event()

    async def publish(self, job: JobRef, *, countdown: float | None = None) -> None:
        if not self.published and not self.gate.is_set():
            self.holding.set()
            await self.gate.wait()
        await super().publish(job, countdown=countdown)


async def test_two_relays_never_publish_one_job_twice(
    database: Database, clock: FrozenClock, url: str
) -> None:
    job_ids = set()
    for _ in range(30):
        job_ids.add(await enqueue(database, clock))
        clock.advance(0.001)
    clock.advance(GRACE)
    options = JobRelayOptions(redispatch_after=REDISPATCH_AFTER, grace=GRACE, batch_size=10)
    held, free = GatedPublisher(), RecordingPublisher()
    first = JobRelay(database, worker_app.TABLES, held, options=options, clock=clock)
    second = JobRelay(database, worker_app.TABLES, free, options=options, clock=clock)

    first_round = asyncio.create_task(first.publish_due())
    second_round: asyncio.Task[int] | None = None
    try:
        async with asyncio.timeout(30):
            await held.holding.wait()  # the first relay holds a batch of 10, mid-publish
            second_round = asyncio.create_task(second.publish_due())
            if url.startswith("postgresql"):
                # SKIP LOCKED: the second relay takes the other rows and does not wait.
                assert await asyncio.shield(second_round) == 20
            held.gate.set()
            published = await asyncio.gather(first_round, second_round)
    finally:
        held.gate.set()
        rounds = [task for task in (first_round, second_round) if task is not None]
        for task in rounds:
            task.cancel()
        await asyncio.gather(*rounds, return_exceptions=True)

    assert sum(published) == 30
    assert len(held.published) + len(free.published) == 30
    assert set(held.published) | set(free.published) == job_ids
    assert await first.publish_due() == 0
    assert await second.publish_due() == 0


async def test_the_relay_runs_as_a_lifespan_resource_and_binds_the_dispatcher(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    now = SystemClock()
    publisher = RecordingPublisher()
    dispatcher = CeleryDispatcher(publisher, worker_app.TABLES)
    resource = job_relay_resource(
        worker_app.TABLES,
        publisher,
        dispatcher=dispatcher,
        options=JobRelayOptions(interval=0.05, grace=GRACE),
    )
    settings = AppSettings(environment="test", database_url=url)
    async with scratch_database(url, worker_app.metadata) as database:
        queue = JobQueue(worker_app.TABLES, clock=now)
        async with UnitOfWork(database.sessionmaker) as uow:
            overdue = await queue.enqueue(
                uow,
                worker_app.ship,
                worker_app.Shipment(label="overdue"),
                run_at=now.now() - timedelta(hours=1),
            )

        async with app_client(create_app(settings, resources=[resource])) as client:
            ready = (await client.get("/health/ready")).json()
            assert ready["checks"]["jobs_relay"] == "ok"
            async with asyncio.timeout(30):
                await publisher.first_published.wait()  # the relay's first round
            assert publisher.published == [overdue.job_id]
            dispatched = await enqueue(database, FrozenClock(now.now()), dispatcher=dispatcher)
            assert await dispatched_at(database, dispatched) is not None

        assert publisher.published == [overdue.job_id, dispatched]
        unbound = await enqueue(database, FrozenClock(now.now()), dispatcher=dispatcher)
        assert await dispatched_at(database, unbound) is None
