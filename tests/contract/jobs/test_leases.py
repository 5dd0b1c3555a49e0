"""Leases: a job is one worker's while its lease lasts, and anyone's once it has expired."""

from __future__ import annotations

from uuid import UUID, uuid4

from tests.contract.jobs.conftest import Jobs

from tiered.jobs import JobContext, JobStatus, Task


def echo_task(jobs: Jobs, max_tries: int = 3) -> Task[str, str]:
    @jobs.registry.task("echo", max_tries=max_tries)
    async def echo(ctx: JobContext, payload: str) -> str:
        return f"{payload}@{ctx.attempt}"

    return echo


async def enqueue(jobs: Jobs, task: Task[str, str], payload: str = "x") -> UUID:
    async with jobs.uow() as uow:
        return (await jobs.queue.enqueue(uow, task, payload)).job_id


async def test_a_leased_job_is_not_claimed_twice(jobs: Jobs) -> None:
    job_id = await enqueue(jobs, echo_task(jobs))
    first = await jobs.store.claim("worker-a", limit=10, lease=60)
    assert [(job.id, job.attempt, job.owner) for job in first] == [(job_id, 1, "worker-a")]
    assert await jobs.store.claim("worker-b", limit=10, lease=60) == []
    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.lease_owner) == (JobStatus.RUNNING, "worker-a")


async def test_claims_take_at_most_the_limit(jobs: Jobs) -> None:
    task = echo_task(jobs)
    for name in "abcde":
        await enqueue(jobs, task, name)
    first = await jobs.store.claim("a", limit=2, lease=60)
    second = await jobs.store.claim("b", limit=2, lease=60)
    third = await jobs.store.claim("c", limit=2, lease=60)
    assert [len(first), len(second), len(third)] == [2, 2, 1]
    assert len({job.id for job in [*first, *second, *third]}) == 5
    assert await jobs.store.claim("d", limit=0, lease=60) == []


async def test_an_expired_lease_lets_another_worker_run_the_job(jobs: Jobs) -> None:
    job_id = await enqueue(jobs, echo_task(jobs))
    [dead_workers_job] = await jobs.store.claim("worker-a", limit=1, lease=60)

    jobs.clock.advance(59)
    assert await jobs.worker().run_due() == 0
    jobs.clock.advance(1)
    assert await jobs.worker(worker_id="worker-b").run_due() == 1

    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.attempts, record.result) == (JobStatus.SUCCEEDED, 2, "x@2")
    # The first worker comes back from the dead: its writes no longer count.
    assert not await jobs.store.complete(dead_workers_job, "stale")
    assert not await jobs.store.fail(dead_workers_job, "stale", retry_at=None)
    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.result) == (JobStatus.SUCCEEDED, "x@2")


async def test_a_renewed_lease_keeps_the_job(jobs: Jobs) -> None:
    job_id = await enqueue(jobs, echo_task(jobs))
    [job] = await jobs.store.claim("worker-a", limit=1, lease=60)
    jobs.clock.advance(50)
    assert await jobs.store.renew("worker-a", [job.id], lease=60) == 1
    assert await jobs.store.renew("worker-b", [job.id], lease=60) == 0
    jobs.clock.advance(50)
    assert await jobs.store.claim("worker-b", limit=1, lease=60) == []
    jobs.clock.advance(10)
    [taken] = await jobs.store.claim("worker-b", limit=1, lease=60)
    assert (taken.id, taken.attempt) == (job_id, 2)


async def test_a_job_whose_last_try_lost_its_worker_is_dead(jobs: Jobs) -> None:
    job_id = await enqueue(jobs, echo_task(jobs, max_tries=1))
    await jobs.store.claim("worker-a", limit=1, lease=60)
    jobs.clock.advance(61)
    assert await jobs.worker().run_due() == 0
    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.attempts) == (JobStatus.DEAD, 1)
    assert record.error is not None
    assert "lease expired" in record.error
    assert [entry.id for entry in await jobs.dead_letters.list()] == [job_id]


async def test_a_released_job_keeps_its_try(jobs: Jobs) -> None:
    job_id = await enqueue(jobs, echo_task(jobs))
    [job] = await jobs.store.claim("worker-a", limit=1, lease=60)
    assert await jobs.store.release(job)
    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.attempts, record.lease_owner) == (JobStatus.QUEUED, 0, None)
    assert not await jobs.store.release(job), "released once"
    [again] = await jobs.store.claim("worker-b", limit=1, lease=60)
    assert again.attempt == 1


async def test_claim_by_id_runs_a_delivered_job_once(jobs: Jobs) -> None:
    task = echo_task(jobs)
    job_id = await enqueue(jobs, task)
    async with jobs.uow() as uow:
        later = (await jobs.queue.enqueue(uow, task, "later", delay=30)).job_id

    claimed = await jobs.store.claim_by_id(job_id, "broker-worker", lease=60)
    assert claimed is not None
    assert await jobs.store.claim_by_id(job_id, "other", lease=60) is None, "a duplicate delivery"
    assert await jobs.store.claim_by_id(later, "broker-worker", lease=60) is None
    assert await jobs.store.claim_by_id(uuid4(), "broker-worker", lease=60) is None

    worker = jobs.worker()
    assert await worker.runner.run(claimed) is JobStatus.SUCCEEDED
    assert await jobs.store.claim_by_id(job_id, "broker-worker", lease=60) is None
    jobs.clock.advance(30)
    assert await jobs.store.claim_by_id(later, "broker-worker", lease=60) is not None


async def test_next_due_says_when_to_look_again(jobs: Jobs) -> None:
    task = echo_task(jobs)
    assert await jobs.store.next_due() is None
    async with jobs.uow() as uow:
        await jobs.queue.enqueue(uow, task, "later", delay=30)
    start = jobs.clock.now()
    due = await jobs.store.next_due()
    assert due is not None
    assert (due - start).total_seconds() == 30
    jobs.clock.advance(30)
    await jobs.store.claim("a", limit=1, lease=5)
    due = await jobs.store.next_due()
    assert due is not None
    assert (due - start).total_seconds() == 35
