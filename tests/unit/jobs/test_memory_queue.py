"""The in-memory queue keeps the transactional promise for services tested on fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tiered.clock import FrozenClock
from tiered.jobs import EnqueuesJobs, InMemoryJobQueue, JobContext, TaskRegistry
from tiered.unit_of_work import InMemoryUnitOfWork

registry = TaskRegistry()


@registry.task("welcome")
async def welcome(ctx: JobContext, payload: str) -> None:
    return None


class UseCaseError(Exception):
    pass


async def sign_up(queue: EnqueuesJobs, uow: InMemoryUnitOfWork, email: str, *, fail: bool) -> None:
    async with uow:
        await queue.enqueue(uow, welcome, email, dedup_key=f"welcome:{email}", owner_id="u1")
        if fail:
            raise UseCaseError


async def test_jobs_appear_on_commit_only(clock: FrozenClock) -> None:
    queue = InMemoryJobQueue(clock=clock)
    with pytest.raises(UseCaseError):
        await sign_up(queue, InMemoryUnitOfWork(), "a@example.com", fail=True)
    assert queue.jobs == []

    await sign_up(queue, InMemoryUnitOfWork(), "a@example.com", fail=False)
    [job] = queue.of_task(welcome)
    assert (job.task, job.payload, job.owner_id, job.run_after) == (
        "welcome",
        "a@example.com",
        "u1",
        clock.now(),
    )
    assert queue.of_task("other") == []


async def test_a_dedup_key_enqueues_once(clock: FrozenClock) -> None:
    queue = InMemoryJobQueue(clock=clock)
    await sign_up(queue, InMemoryUnitOfWork(), "a@example.com", fail=False)
    async with InMemoryUnitOfWork() as uow:
        again = await queue.enqueue(
            uow, welcome, "a@example.com", dedup_key="welcome:a@example.com"
        )
    assert (again.job_id, again.created) == (queue.jobs[0].id, False)
    assert len(queue.jobs) == 1


async def test_delays_use_the_clock(clock: FrozenClock) -> None:
    queue = InMemoryJobQueue(clock=clock)
    async with InMemoryUnitOfWork() as uow:
        await queue.enqueue(uow, welcome, "a", delay=timedelta(minutes=5))
    assert queue.jobs[0].run_after == clock.now() + timedelta(minutes=5)
