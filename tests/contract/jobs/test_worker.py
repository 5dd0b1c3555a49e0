"""The running worker: bounded concurrency, woken by commits, drained on stop."""

from __future__ import annotations

import asyncio

import pytest
from tests.contract.jobs.conftest import Jobs

from tiered.jobs import ClaimedJob, JobContext, JobStatus, WorkerStoppedError

SAFETY = 10
"""Seconds before a test that should be over long since gives up (never reached when green)."""


class Gate:
    """Handlers wait here; the test counts who is inside and lets them out."""

    def __init__(self) -> None:
        self.inside = 0
        self.most_inside = 0
        self.finished = 0
        self.open = asyncio.Event()
        self.changed = asyncio.Event()

    async def pass_through(self) -> None:
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        self.changed.set()
        try:
            await self.open.wait()
        finally:
            self.inside -= 1
            self.finished += 1
            self.changed.set()

    async def until(self, condition: str) -> None:
        async with asyncio.timeout(SAFETY):
            while not eval(condition, {}, {"gate": self}):
                self.changed.clear()
                await self.changed.wait()


async def test_no_more_than_concurrency_jobs_run_at_once(jobs: Jobs) -> None:
    gate = Gate()

    @jobs.registry.task("wait")
    async def wait(ctx: JobContext, payload: int) -> int:
        await gate.pass_through()
        return payload

    async with jobs.uow() as uow:
        ids = [(await jobs.queue.enqueue(uow, wait, n)).job_id for n in range(8)]
    worker = jobs.worker(concurrency=3, poll_interval=3600)
    jobs.dispatcher.subscribe(worker.wake)
    await worker.start()
    try:
        await gate.until("gate.inside == 3")
        assert worker.running == 3
        gate.open.set()
        await gate.until("gate.finished == 8")
    finally:
        await worker.stop(grace=SAFETY)

    assert gate.most_inside == 3
    for job_id in ids:
        record = await jobs.store.get(job_id)
        assert record is not None
        assert record.status is JobStatus.SUCCEEDED


async def test_a_commit_wakes_the_worker(jobs: Jobs) -> None:
    ran = asyncio.Event()

    @jobs.registry.task("ping")
    async def ping(ctx: JobContext, payload: None) -> None:
        ran.set()

    worker = jobs.worker(poll_interval=3600)
    looked = asyncio.Event()
    claim = worker.store.claim

    async def observed_claim(owner: str, *, limit: int, lease: float) -> list[ClaimedJob]:
        claimed = await claim(owner, limit=limit, lease=lease)
        looked.set()
        return claimed

    worker.store.claim = observed_claim  # type: ignore[method-assign]
    unsubscribe = jobs.dispatcher.subscribe(worker.wake)
    await worker.start()
    try:
        await asyncio.wait_for(looked.wait(), SAFETY)  # found nothing; now waits an hour
        async with jobs.uow() as uow:
            await jobs.queue.enqueue(uow, ping, None)
        await asyncio.wait_for(ran.wait(), SAFETY)
    finally:
        unsubscribe()
        await worker.stop(grace=SAFETY)


async def test_stop_drains_running_jobs_and_claims_no_more(jobs: Jobs) -> None:
    gate = Gate()

    @jobs.registry.task("wait")
    async def wait(ctx: JobContext, payload: int) -> int:
        await gate.pass_through()
        return payload

    async with jobs.uow() as uow:
        running = (await jobs.queue.enqueue(uow, wait, 1)).job_id
    worker = jobs.worker(concurrency=2, poll_interval=3600)
    jobs.dispatcher.subscribe(worker.wake)
    await worker.start()
    await gate.until("gate.inside == 1")

    stopping = asyncio.create_task(worker.stop(grace=SAFETY))
    await asyncio.sleep(0)
    async with jobs.uow() as uow:
        late = (await jobs.queue.enqueue(uow, wait, 2)).job_id
    assert not stopping.done()
    gate.open.set()
    await asyncio.wait_for(stopping, SAFETY)

    record = await jobs.store.get(running)
    assert record is not None
    assert (record.status, record.result) == (JobStatus.SUCCEEDED, 1)
    record = await jobs.store.get(late)
    assert record is not None
    assert (record.status, record.attempts) == (JobStatus.QUEUED, 0)
    assert gate.finished == 1


async def test_jobs_still_running_after_the_grace_go_back_to_the_queue(jobs: Jobs) -> None:
    gate = Gate()

    @jobs.registry.task("wait")
    async def wait(ctx: JobContext, payload: int) -> int:
        await gate.pass_through()
        return payload

    async with jobs.uow() as uow:
        job_id = (await jobs.queue.enqueue(uow, wait, 1)).job_id
    worker = jobs.worker(poll_interval=3600)
    await worker.start()
    await gate.until("gate.inside == 1")
    await worker.stop(grace=0)

    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.attempts, record.lease_owner) == (JobStatus.QUEUED, 0, None)
    gate.open.set()
    assert await jobs.worker().run_due() == 1
    record = await jobs.store.get(job_id)
    assert record is not None
    assert (record.status, record.attempts) == (JobStatus.SUCCEEDED, 1)


async def test_the_health_check_follows_the_worker(jobs: Jobs) -> None:
    worker = jobs.worker(poll_interval=3600)
    with pytest.raises(WorkerStoppedError):
        await worker.check()
    await worker.start()
    await worker.check()
    with pytest.raises(RuntimeError):
        await worker.start()
    with pytest.raises(RuntimeError):
        await worker.run_due()
    await worker.stop()
    with pytest.raises(WorkerStoppedError):
        await worker.check()


async def test_a_failing_database_does_not_kill_the_worker(jobs: Jobs) -> None:
    ran = asyncio.Event()
    failed = asyncio.Event()

    @jobs.registry.task("ping")
    async def ping(ctx: JobContext, payload: None) -> None:
        ran.set()

    async with jobs.uow() as uow:
        await jobs.queue.enqueue(uow, ping, None)
    worker = jobs.worker(poll_interval=3600)
    claim = worker.store.claim

    async def flaky_claim(owner: str, *, limit: int, lease: float) -> list[ClaimedJob]:
        if not failed.is_set():
            failed.set()
            raise ConnectionError("database went away")
        return await claim(owner, limit=limit, lease=lease)

    worker.store.claim = flaky_claim  # type: ignore[method-assign]
    await worker.start()
    try:
        await asyncio.wait_for(failed.wait(), SAFETY)
        await worker.check()
        assert not ran.is_set()
        worker.wake()
        await asyncio.wait_for(ran.wait(), SAFETY)
    finally:
        await worker.stop(grace=SAFETY)
