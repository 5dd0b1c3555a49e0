"""kill -9 a Celery worker mid-job: after a restart the job completes and its effect happens once.

The first worker is killed with SIGKILL while the job's first try hangs in its
handler, before or after the handler's database effect committed. Its
message is not acknowledged, so it comes back: RabbitMQ requeues it as soon
as the connection drops, Redis once the (shortened) visibility timeout has
passed. With Redis's default visibility timeout the message stays away, and
the relay of the restarted worker publishes the job again instead. The
restarted worker runs on a clock set past the killed one's lease, as it
would be once the lease had run out, so the test never waits for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from redis import Redis
from tests.integration import celery_worker_app as worker_app
from tests.integration.celery_harness import Broker, Setup, celery_setup, database_url

from tiered.jobs import JobQueue, JobStatus
from tiered.unit_of_work import UnitOfWork

LEASE_SECONDS = 30
PAST_THE_LEASE = LEASE_SECONDS + 15  # also past the relay's grace


@pytest.fixture(
    params=[
        pytest.param(
            ("rabbitmq", "postgres", "after-effect", "redelivery"),
            id="rabbitmq-after-effect",
            marks=[pytest.mark.rabbitmq, pytest.mark.postgres],
        ),
        pytest.param(
            ("rabbitmq", "postgres", "before-effect", "redelivery"),
            id="rabbitmq-before-effect",
            marks=[pytest.mark.rabbitmq, pytest.mark.postgres],
        ),
        pytest.param(
            ("redis", "sqlite", "after-effect", "redelivery"),
            id="redis-visibility-timeout",
            marks=pytest.mark.redis,
        ),
        pytest.param(
            ("redis", "postgres", "before-effect", "relay"),
            id="redis-relay",
            marks=[pytest.mark.redis, pytest.mark.postgres],
        ),
    ]
)
def scenario(request: pytest.FixtureRequest) -> tuple[str, str, str, str]:
    chosen: tuple[str, str, str, str] = request.param
    return chosen


@pytest_asyncio.fixture
async def setup(
    scenario: tuple[str, str, str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Setup]:
    broker_kind, database_kind, _, _ = scenario
    broker = Broker(
        broker_kind,
        request.getfixturevalue("redis_url" if broker_kind == "redis" else "amqp_url"),
    )
    server = request.getfixturevalue("postgres_url") if database_kind == "postgres" else None
    try:
        async with (
            database_url(database_kind, tmp_path, server) as url,
            celery_setup(broker, url, tmp_path, jobs_lease_seconds=LEASE_SECONDS) as ready,
        ):
            yield ready
    finally:
        broker.remove()


def unacknowledged(setup: Setup) -> int:
    """Messages a Redis consumer took and never acknowledged (kombu's ``unacked`` hash)."""
    with Redis.from_url(setup.broker.url) as client:
        return int(client.hlen(f"{setup.broker.key_prefix}unacked"))


async def test_a_job_killed_mid_run_completes_after_a_restart_and_its_effect_happens_once(
    setup: Setup, scenario: tuple[str, str, str, str]
) -> None:
    broker_kind, _, kill_point, comes_back_by = scenario
    visibility = "2" if comes_back_by == "redelivery" else "3600"
    lease = {
        worker_app.LEASE_SECONDS: str(LEASE_SECONDS),
        worker_app.VISIBILITY_TIMEOUT: visibility,
    }
    first = await setup.start_worker(**lease)
    queue = JobQueue(worker_app.TABLES, dispatcher=setup.dispatcher)
    async with UnitOfWork(setup.database.sessionmaker) as uow:
        job_id = (
            await queue.enqueue(
                uow, worker_app.ship, worker_app.Shipment(label="parcel", hang=kill_point)
            )
        ).job_id

    async def hanging() -> bool:
        return (await setup.job(job_id)).progress is not None

    await setup.wait_until(hanging, "the first try to hang in its handler")
    assert await setup.effects("parcel") == ([1] if kill_point == "after-effect" else [])
    await first.kill()

    record = await setup.job(job_id)
    assert (record.status, record.attempts) == (JobStatus.RUNNING, 1)
    if broker_kind == "rabbitmq":

        async def requeued() -> bool:
            return setup.broker.ready_messages() == 1

        await setup.wait_until(requeued, "RabbitMQ to requeue the unacknowledged message")
    else:
        assert setup.broker.ready_messages() == 0
        assert unacknowledged(setup) == 1

    await setup.start_worker(
        relay=comes_back_by == "relay",
        **lease,
        **{worker_app.CLOCK_OFFSET: str(PAST_THE_LEASE)},
    )
    record = await setup.wait_for_status(job_id, JobStatus.SUCCEEDED)
    assert (record.attempts, record.result) == (2, "shipped parcel on try 2")
    assert await setup.effects("parcel") == ([1] if kill_point == "after-effect" else [2])
    if comes_back_by == "relay":
        assert unacknowledged(setup) == 1  # the killed worker's message never came back
    assert setup.publisher.published == [job_id]
