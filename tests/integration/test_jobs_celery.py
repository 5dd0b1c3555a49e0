"""The Celery backend end to end: a real broker, a real ``celery`` worker process, one database.

Redis and RabbitMQ each carry jobs to a prefork worker started through
``run_celery_worker``; the database the test and the worker share is an
SQLite file or a scratch PostgreSQL database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import insert
from tests.integration import celery_worker_app as worker_app
from tests.integration.celery_harness import Broker, Setup, celery_setup, database_url

from tiered.jobs import DeadLetterQueue, JobQueue, JobRef, JobStatus
from tiered.unit_of_work import UnitOfWork


class SignUpFailedError(Exception):
    pass


@pytest.fixture(
    params=[
        pytest.param(("redis", "sqlite"), id="redis-sqlite", marks=pytest.mark.redis),
        pytest.param(
            ("rabbitmq", "postgres"),
            id="rabbitmq-postgres",
            marks=[pytest.mark.rabbitmq, pytest.mark.postgres],
        ),
    ]
)
def backends(request: pytest.FixtureRequest) -> tuple[str, str]:
    kind: tuple[str, str] = request.param
    return kind


@pytest_asyncio.fixture
async def setup(
    backends: tuple[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Setup]:
    broker_kind, database_kind = backends
    broker = Broker(
        broker_kind,
        request.getfixturevalue("redis_url" if broker_kind == "redis" else "amqp_url"),
    )
    server = request.getfixturevalue("postgres_url") if database_kind == "postgres" else None
    try:
        async with (
            database_url(database_kind, tmp_path, server) as url,
            celery_setup(broker, url, tmp_path) as ready,
        ):
            yield ready
    finally:
        broker.remove()


async def test_a_committed_job_runs_once_and_a_rolled_back_one_publishes_nothing(
    setup: Setup,
) -> None:
    queue = JobQueue(worker_app.TABLES, dispatcher=setup.dispatcher)
    async with UnitOfWork(setup.database.sessionmaker) as uow:
        job_id = (await queue.enqueue(uow, worker_app.ship, worker_app.Shipment(label="a"))).job_id

    async def sign_up_that_fails() -> None:
        async with UnitOfWork(setup.database.sessionmaker) as uow:
            await queue.enqueue(uow, worker_app.ship, worker_app.Shipment(label="lost"))
            raise SignUpFailedError

    with pytest.raises(SignUpFailedError):
        await sign_up_that_fails()

    assert setup.publisher.published == [job_id]
    assert setup.broker.ready_messages() == 1
    assert await setup.count_jobs() == 1

    await setup.start_worker(pool="prefork")
    record = await setup.wait_for_status(job_id, JobStatus.SUCCEEDED)
    assert (record.attempts, record.result) == (1, "shipped a on try 1")

    # A second delivery of the same job (a redelivery, a republished duplicate)
    # claims nothing; the job enqueued after it shows the worker got past it.
    await setup.publisher.publish(JobRef(job_id, "ship", record.run_after))
    async with UnitOfWork(setup.database.sessionmaker) as uow:
        later = (await queue.enqueue(uow, worker_app.ship, worker_app.Shipment(label="b"))).job_id
    await setup.wait_for_status(later, JobStatus.SUCCEEDED)

    record = await setup.job(job_id)
    assert (record.status, record.attempts) == (JobStatus.SUCCEEDED, 1)
    assert await setup.effects("a") == [1]
    assert await setup.effects("lost") == []


async def test_a_job_that_keeps_failing_lands_dead_and_a_requeue_runs_it_again(
    setup: Setup,
) -> None:
    queue = JobQueue(worker_app.TABLES, dispatcher=setup.dispatcher)
    await setup.start_worker(pool="prefork")
    async with UnitOfWork(setup.database.sessionmaker) as uow:
        job_id = (await queue.enqueue(uow, worker_app.flaky, "sync")).job_id

    dead = await setup.wait_for_status(job_id, JobStatus.DEAD)
    assert (dead.attempts, dead.error) == (3, "ConnectionError: the upstream is down")
    assert await setup.effects("sync") == [1, 2, 3]

    async with UnitOfWork(setup.database.sessionmaker) as uow:
        await uow.session.execute(insert(worker_app.switches).values(name="fixed"))
    dead_letters = DeadLetterQueue(setup.database, worker_app.TABLES, dispatcher=setup.dispatcher)
    assert await dead_letters.requeue(job_id)

    record = await setup.wait_for_status(job_id, JobStatus.SUCCEEDED)
    assert (record.attempts, record.result) == (1, "sync on try 1")
    assert await setup.effects("sync") == [1, 2, 3, 1]
    assert setup.publisher.published == [job_id, job_id]  # enqueue, requeue
