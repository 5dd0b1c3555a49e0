"""Effects once: a job may run again, its recorded database effects do not."""

from __future__ import annotations

import asyncio
from uuid import UUID

from sqlalchemy import select, text
from tests.contract.jobs.conftest import Jobs

from tiered.jobs import ClaimedJob, JobContext, JobStatus, run_once


class HandlerError(Exception):
    pass


async def test_a_worker_that_dies_after_the_effect_does_not_repeat_it(jobs: Jobs) -> None:
    effect_committed = asyncio.Event()
    hang = asyncio.Event()

    @jobs.registry.task("ship", max_tries=3)
    async def ship(ctx: JobContext, payload: str) -> str:
        async with jobs.uow() as uow:
            await run_once(ctx, uow, "ship", lambda: jobs.record_effect(uow, payload))
        if ctx.attempt == 1:
            effect_committed.set()
            await hang.wait()  # the first worker stalls here, past its lease
        return f"shipped by try {ctx.attempt}"

    async with jobs.uow() as uow:
        job_id = (await jobs.queue.enqueue(uow, ship, "order-1")).job_id

    first = jobs.worker(worker_id="first", lease_seconds=30)
    [claimed] = await first.store.claim(first.worker_id, limit=1, lease=30)
    stalled = asyncio.create_task(first.runner.run(claimed))
    await asyncio.wait_for(effect_committed.wait(), 10)

    jobs.clock.advance(31)
    second = jobs.worker(worker_id="second")
    assert await second.run_due() == 1
    hang.set()
    assert await stalled is None, "the first worker's lease was lost"

    assert await jobs.effects() == ["order-1"]
    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.attempts, record.result) == (
        JobStatus.SUCCEEDED,
        2,
        "shipped by try 2",
    )
    async with jobs.uow().read_only() as uow:
        executions = (await uow.session.execute(select(jobs.tables.executions))).all()
    assert [(row.job_id, row.effect_key, row.attempt, row.worker) for row in executions] == [
        (job_id, "ship", 1, "first")
    ]


async def test_an_effect_rolled_back_with_its_transaction_runs_on_the_next_try(
    jobs: Jobs,
) -> None:
    @jobs.registry.task("ship", max_tries=3)
    async def ship(ctx: JobContext, payload: str) -> bool:
        async with jobs.uow() as uow:
            ran = await run_once(ctx, uow, "ship", lambda: jobs.record_effect(uow, payload))
            if ctx.attempt == 1:
                raise HandlerError("after the effect, before the commit")
        return ran

    async with jobs.uow() as uow:
        job_id = (await jobs.queue.enqueue(uow, ship, "order-2")).job_id
    worker = jobs.worker()
    await worker.run_due()
    assert await jobs.effects() == []
    jobs.clock.advance(3600)
    await worker.run_due()

    assert await jobs.effects() == ["order-2"]
    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.result) == (JobStatus.SUCCEEDED, True)


async def test_each_effect_key_runs_once(jobs: Jobs) -> None:
    @jobs.registry.task("two-steps", max_tries=3)
    async def two_steps(ctx: JobContext, payload: None) -> list[bool]:
        async with jobs.uow() as uow:
            first = await run_once(ctx, uow, "reserve", lambda: jobs.record_effect(uow, "reserve"))
        async with jobs.uow() as uow:
            second = await run_once(ctx, uow, "charge", lambda: jobs.record_effect(uow, "charge"))
            if ctx.attempt == 1:
                raise HandlerError
        return [first, second]

    async with jobs.uow() as uow:
        job_id = (await jobs.queue.enqueue(uow, two_steps, None)).job_id
    worker = jobs.worker()
    await worker.run_due()
    assert await jobs.effects() == ["reserve"]
    jobs.clock.advance(3600)
    await worker.run_due()

    assert await jobs.effects() == ["reserve", "charge"]
    record = await jobs.store.get(job_id)
    assert record is not None
    assert record.result == [False, True]


async def test_two_workers_racing_on_one_job_apply_the_effect_once(jobs: Jobs) -> None:
    @jobs.registry.task("race")
    async def race(ctx: JobContext, payload: None) -> None:
        return None

    async with jobs.uow() as uow:
        job_id = (await jobs.queue.enqueue(uow, race, None)).job_id
    inside = asyncio.Event()
    release = asyncio.Event()

    async def attempt(number: int, gate: bool) -> bool:
        ctx = context(jobs, job_id, number)
        async with jobs.uow() as uow:

            async def effect() -> None:
                await jobs.record_effect(uow, f"try {number}")
                if gate:
                    inside.set()
                    await release.wait()

            return await run_once(ctx, uow, "effect", effect)

    first = asyncio.create_task(attempt(1, gate=True))
    await asyncio.wait_for(inside.wait(), 10)
    second = asyncio.create_task(attempt(2, gate=False))
    await blocked_on_the_first(jobs)
    release.set()

    assert await asyncio.wait_for(asyncio.gather(first, second), 10) == [True, False]
    assert await jobs.effects() == ["try 1"]


async def blocked_on_the_first(jobs: Jobs) -> None:
    """Wait until the second try waits for the first: on PostgreSQL, on the execution
    row's lock (on SQLite the writer lock serialises them before any statement)."""
    if jobs.database.engine.dialect.name != "postgresql":
        return
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE '%job_executions%'"
    )
    async with asyncio.timeout(10):
        while True:
            async with jobs.database.engine.connect() as connection:
                if await connection.scalar(waiting):
                    return
            await asyncio.sleep(0.01)


def context(jobs: Jobs, job_id: UUID, attempt: int) -> JobContext:
    job = ClaimedJob(job_id, "race", None, attempt, 3, f"worker-{attempt}")
    return JobContext(job, jobs.store, jobs.clock)


async def test_progress_is_readable_while_the_job_runs(jobs: Jobs) -> None:
    seen: list[tuple[JobStatus, int | None, int | None]] = []

    @jobs.registry.task("import")
    async def import_rows(ctx: JobContext, payload: list[str]) -> int:
        for done, row in enumerate(payload, start=1):
            async with jobs.uow() as uow:
                await jobs.record_effect(uow, row)
                assert await ctx.report_progress(done, len(payload), uow=uow)
            record = await jobs.store.get(ctx.job_id)
            assert record is not None
            assert record.progress is not None
            seen.append((record.status, record.progress.done, record.progress.total))
        assert await ctx.report_progress(len(payload), len(payload))
        return len(payload)

    async with jobs.uow() as uow:
        job_id = (await jobs.queue.enqueue(uow, import_rows, ["a", "b", "c"])).job_id
    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.progress) == (JobStatus.QUEUED, None)

    await jobs.worker().run_due()
    assert seen == [(JobStatus.RUNNING, 1, 3), (JobStatus.RUNNING, 2, 3), (JobStatus.RUNNING, 3, 3)]
    record = await jobs.store.get(job_id)
    assert record is not None
    assert record.progress is not None
    assert (record.status, record.progress.fraction, record.result) == (
        JobStatus.SUCCEEDED,
        1.0,
        3,
    )


async def test_progress_rolls_back_with_the_work_it_counts(jobs: Jobs) -> None:
    @jobs.registry.task("import", max_tries=1)
    async def import_rows(ctx: JobContext, payload: None) -> None:
        async with jobs.uow() as uow:
            await ctx.report_progress(1, 2, uow=uow)
        async with jobs.uow() as uow:
            await ctx.report_progress(2, 2, uow=uow)
            raise HandlerError

    async with jobs.uow() as uow:
        job_id = (await jobs.queue.enqueue(uow, import_rows, None)).job_id
    await jobs.worker().run_due()
    record = await jobs.store.get(job_id)
    assert record is not None
    assert record.progress is not None
    assert (record.status, record.progress.done) == (JobStatus.DEAD, 1)


async def test_purging_a_dead_job_removes_its_execution_records(jobs: Jobs) -> None:
    @jobs.registry.task("half-done", max_tries=1)
    async def half_done(ctx: JobContext, payload: None) -> None:
        async with jobs.uow() as uow:
            await run_once(ctx, uow, "first", lambda: jobs.record_effect(uow, "first"))
        raise HandlerError("the second step failed")

    async with jobs.uow() as uow:
        job_id = (await jobs.queue.enqueue(uow, half_done, None)).job_id
    await jobs.worker().run_due()
    assert await execution_keys(jobs) == [(job_id, "first")]

    assert await jobs.dead_letters.purge(job_id)
    assert await execution_keys(jobs) == []
    assert await jobs.effects() == ["first"], "the effect itself stays"


async def execution_keys(jobs: Jobs) -> list[tuple[UUID, str]]:
    executions = jobs.tables.executions
    async with jobs.uow().read_only() as uow:
        rows = await uow.session.execute(select(executions.c.job_id, executions.c.effect_key))
    return [(row.job_id, row.effect_key) for row in rows]
