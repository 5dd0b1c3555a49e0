"""Failed tries come back after a backoff; spent tries end as dead letters, kept until handled."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from tests.contract.jobs.conftest import Jobs

from tiered.jobs import Backoff, JobContext, JobStatus, PermanentJobFailure, Task


class Flaky:
    """A handler that fails until told otherwise, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.healthy = False

    async def __call__(self, ctx: JobContext, payload: str) -> str:
        self.calls += 1
        if not self.healthy:
            raise RuntimeError(f"boom {self.calls}")
        return payload.upper()


def flaky_task(jobs: Jobs, flaky: Flaky, *, max_tries: int = 3) -> Task[str, str]:
    backoff = Backoff(base=10, factor=2, cap=1000, jitter=False)
    return jobs.registry.task("flaky", max_tries=max_tries, backoff=backoff, payload=str)(flaky)


async def enqueue(jobs: Jobs, task: Task[str, str], payload: str = "hi") -> UUID:
    async with jobs.uow() as uow:
        return (await jobs.queue.enqueue(uow, task, payload)).job_id


async def test_retries_back_off_then_the_job_is_dead(jobs: Jobs) -> None:
    flaky = Flaky()
    job_id = await enqueue(jobs, flaky_task(jobs, flaky))
    worker = jobs.worker()

    assert await worker.run_due() == 1
    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.attempts, record.error) == (
        JobStatus.FAILED,
        1,
        "RuntimeError: boom 1",
    )
    assert record.run_after == jobs.clock.now() + timedelta(seconds=10)
    assert record.lease_owner is None

    jobs.clock.advance(9)
    assert await worker.run_due() == 0
    jobs.clock.advance(1)
    assert await worker.run_due() == 1
    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.attempts) == (JobStatus.FAILED, 2)
    assert record.run_after == jobs.clock.now() + timedelta(seconds=20)

    jobs.clock.advance(20)
    assert await worker.run_due() == 1
    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.attempts, record.error) == (
        JobStatus.DEAD,
        3,
        "RuntimeError: boom 3",
    )
    assert record.finished_at == jobs.clock.now()
    jobs.clock.advance(10_000)
    assert await worker.run_due() == 0
    assert flaky.calls == 3

    dead = await jobs.dead_letters.list()
    assert [(entry.id, entry.attempts, entry.error) for entry in dead] == [
        (job_id, 3, "RuntimeError: boom 3")
    ]
    assert await jobs.dead_letters.count() == 1


async def test_a_requeued_dead_job_runs_again(jobs: Jobs) -> None:
    flaky = Flaky()
    job_id = await enqueue(jobs, flaky_task(jobs, flaky, max_tries=1))
    worker = jobs.worker()
    await worker.run_due()
    assert (await jobs.dead_letters.count()) == 1
    jobs.dispatcher.dispatched.clear()

    flaky.healthy = True
    jobs.clock.advance(5)
    assert await jobs.dead_letters.requeue(job_id)
    assert [ref.id for ref in jobs.dispatcher.dispatched] == [job_id]
    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.attempts, record.finished_at) == (JobStatus.QUEUED, 0, None)
    assert record.error == "RuntimeError: boom 1", "the last error stays until it succeeds"
    assert not await jobs.dead_letters.requeue(job_id), "only a dead job is requeued"

    assert await worker.run_due() == 1
    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.result, record.error) == (JobStatus.SUCCEEDED, "HI", None)
    assert await jobs.dead_letters.count() == 0


async def test_requeue_can_grant_more_tries(jobs: Jobs) -> None:
    flaky = Flaky()
    job_id = await enqueue(jobs, flaky_task(jobs, flaky, max_tries=1))
    worker = jobs.worker()
    await worker.run_due()
    assert await jobs.dead_letters.requeue(job_id, max_tries=2)
    await worker.run_due()
    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.attempts, record.max_tries) == (JobStatus.FAILED, 1, 2)


async def test_dead_letters_are_purged_one_by_one_or_all(jobs: Jobs) -> None:
    flaky = Flaky()
    task = flaky_task(jobs, flaky, max_tries=1)
    first, second, third = [await enqueue(jobs, task, name) for name in ("a", "b", "c")]
    await jobs.worker().run_due()
    flaky.healthy = True
    alive = await enqueue(jobs, task, "alive")
    await jobs.worker().run_due()

    assert await jobs.dead_letters.count() == 3
    assert await jobs.dead_letters.purge(first)
    assert not await jobs.dead_letters.purge(first)
    assert not await jobs.dead_letters.purge(alive), "purge removes dead jobs only"
    assert await jobs.store.get(first) is None
    assert await jobs.dead_letters.purge_all() == 2
    assert await jobs.store.get(second) is None
    assert await jobs.store.get(third) is None
    alive_record = await jobs.store.get(alive)
    assert alive_record is not None
    assert alive_record.status is JobStatus.SUCCEEDED


async def test_purge_all_can_keep_recent_dead_letters(jobs: Jobs) -> None:
    flaky = Flaky()
    task = flaky_task(jobs, flaky, max_tries=1)
    old = await enqueue(jobs, task, "old")
    await jobs.worker().run_due()
    jobs.clock.advance(3600)
    recent = await enqueue(jobs, task, "recent")
    await jobs.worker().run_due()

    assert await jobs.dead_letters.purge_all(finished_before=jobs.clock.now()) == 1
    assert await jobs.store.get(old) is None
    assert [entry.id for entry in await jobs.dead_letters.list()] == [recent]


async def test_dead_letters_list_newest_first_and_by_task(jobs: Jobs) -> None:
    flaky = Flaky()
    task = flaky_task(jobs, flaky, max_tries=1)

    @jobs.registry.task("other", max_tries=1)
    async def other(ctx: JobContext, payload: str) -> None:
        raise RuntimeError("other")

    ids = []
    for name in ("a", "b"):
        ids.append(await enqueue(jobs, task, name))
        await jobs.worker().run_due()
        jobs.clock.advance(1)
    async with jobs.uow() as uow:
        other_id = (await jobs.queue.enqueue(uow, other, "x")).job_id
    await jobs.worker().run_due()

    assert [entry.id for entry in await jobs.dead_letters.list()] == [other_id, ids[1], ids[0]]
    assert [entry.id for entry in await jobs.dead_letters.list(task="flaky")] == ids[::-1]
    assert [entry.id for entry in await jobs.dead_letters.list(limit=1, offset=1)] == [ids[1]]
    assert await jobs.dead_letters.count(task="other") == 1


async def test_a_permanent_failure_is_dead_at_once(jobs: Jobs) -> None:
    @jobs.registry.task("refuse", max_tries=5)
    async def refuse(ctx: JobContext, payload: str) -> None:
        raise PermanentJobFailure(f"no such account: {payload}")

    async with jobs.uow() as uow:
        job_id = (await jobs.queue.enqueue(uow, refuse, "acct-9")).job_id
    assert await jobs.worker().run_due() == 1
    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.attempts) == (JobStatus.DEAD, 1)
    assert record.error == "PermanentJobFailure: no such account: acct-9"


async def test_a_stored_payload_that_no_longer_validates_is_dead_at_once(jobs: Jobs) -> None:
    @jobs.registry.task("count", max_tries=5)
    async def count(ctx: JobContext, payload: int) -> int:
        return payload

    async with jobs.uow() as uow:
        job_id = (await jobs.queue.enqueue(uow, count, 3)).job_id
        await uow.session.execute(
            jobs.tables.jobs.update().where(jobs.tables.jobs.c.id == job_id).values(payload="three")
        )
    await jobs.worker().run_due()
    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.attempts) == (JobStatus.DEAD, 1)
    assert record.error is not None
    assert record.error.startswith("PermanentJobFailure: invalid payload")


async def test_a_task_this_worker_does_not_know_is_retried_then_dead(jobs: Jobs) -> None:
    @jobs.registry.task("gone", max_tries=2)
    async def gone(ctx: JobContext, payload: None) -> None:
        return None

    async with jobs.uow() as uow:
        job_id = (await jobs.queue.enqueue(uow, gone, None)).job_id
    stranger = jobs.worker()
    stranger.runner.registry = type(jobs.registry)()
    await stranger.run_due()
    record = await jobs.store.get(job_id)
    assert record is not None
    assert record.status is JobStatus.FAILED
    assert record.error == "UnknownTaskError: No task named 'gone' is registered."
    jobs.clock.advance(3600)
    await stranger.run_due()
    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.attempts) == (JobStatus.DEAD, 2)


async def test_succeeded_jobs_are_purged_after_their_retention(jobs: Jobs) -> None:
    flaky = Flaky()
    flaky.healthy = True
    task = flaky_task(jobs, flaky)
    old = await enqueue(jobs, task, "old")
    await jobs.worker().run_due()
    jobs.clock.advance(86_400)
    recent = await enqueue(jobs, task, "recent")
    await jobs.worker().run_due()

    assert await jobs.store.purge_succeeded(finished_before=jobs.clock.now()) == 1
    assert await jobs.store.get(old) is None
    assert await jobs.store.get(recent) is not None
