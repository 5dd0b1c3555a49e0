"""Enqueueing is part of the caller's transaction: rolled back, nothing; committed, run once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from tests.contract.jobs.conftest import Jobs

from tiered.errors import InvalidInputError
from tiered.jobs import JobContext, JobStatus, Task


class Greeting(BaseModel):
    name: str
    times: int = 1


class UseCaseError(Exception):
    pass


def greeting_task(jobs: Jobs, seen: list[tuple[str, int]]) -> Task[Greeting, dict[str, str]]:
    @jobs.registry.task("greet", max_tries=3)
    async def greet(ctx: JobContext, payload: Greeting) -> dict[str, str]:
        seen.append((payload.name, ctx.attempt))
        return {"greeted": payload.name}

    return greet


async def test_a_rolled_back_transaction_enqueues_nothing(jobs: Jobs) -> None:
    seen: list[tuple[str, int]] = []
    greet = greeting_task(jobs, seen)

    async def failing_use_case() -> None:
        async with jobs.uow() as uow:
            await jobs.queue.enqueue(uow, greet, Greeting(name="ada"))
            raise UseCaseError

    with pytest.raises(UseCaseError):
        await failing_use_case()

    assert await jobs.count_jobs() == 0
    assert jobs.dispatcher.dispatched == []
    assert await jobs.worker().run_due() == 0
    assert seen == []


async def test_a_committed_job_runs_exactly_once(jobs: Jobs) -> None:
    seen: list[tuple[str, int]] = []
    greet = greeting_task(jobs, seen)
    async with jobs.uow() as uow:
        enqueued = await jobs.queue.enqueue(uow, greet, Greeting(name="ada"))
        assert jobs.dispatcher.dispatched == [], "dispatched before the commit"

    assert [ref.id for ref in jobs.dispatcher.dispatched] == [enqueued.job_id]
    worker = jobs.worker()
    assert await worker.run_due() == 1
    assert await worker.run_due() == 0
    assert await jobs.worker().run_due() == 0
    assert seen == [("ada", 1)]
    record = await jobs.store.get(enqueued.job_id)
    assert record is not None
    assert record.status is JobStatus.SUCCEEDED
    assert record.result == {"greeted": "ada"}
    assert record.attempts == 1
    assert record.error is None
    assert record.finished_at == jobs.clock.now()


async def test_a_rolled_back_savepoint_drops_its_job_only(jobs: Jobs) -> None:
    seen: list[tuple[str, int]] = []
    greet = greeting_task(jobs, seen)
    async with jobs.uow() as uow:
        kept = await jobs.queue.enqueue(uow, greet, Greeting(name="kept"))

        async def failing_step() -> None:
            async with uow.savepoint():
                await jobs.queue.enqueue(uow, greet, Greeting(name="dropped"))
                raise UseCaseError

        with pytest.raises(UseCaseError):
            await failing_step()

    assert [ref.id for ref in jobs.dispatcher.dispatched] == [kept.job_id]
    assert await jobs.worker().run_due() == 1
    assert seen == [("kept", 1)]


async def test_a_dedup_key_enqueues_once(jobs: Jobs) -> None:
    seen: list[tuple[str, int]] = []
    greet = greeting_task(jobs, seen)
    async with jobs.uow() as uow:
        first = await jobs.queue.enqueue(uow, greet, Greeting(name="a"), dedup_key="welcome:1")
        again = await jobs.queue.enqueue(uow, greet, Greeting(name="b"), dedup_key="welcome:1")
    async with jobs.uow() as uow:
        later = await jobs.queue.enqueue(uow, greet, Greeting(name="c"), dedup_key="welcome:1")
        other = await jobs.queue.enqueue(uow, greet, Greeting(name="d"), dedup_key="welcome:2")

    assert first.created
    assert (again.job_id, again.created) == (first.job_id, False)
    assert (later.job_id, later.created) == (first.job_id, False)
    assert other.created
    assert await jobs.count_jobs() == 2
    assert len(jobs.dispatcher.dispatched) == 2
    assert await jobs.worker().run_due() == 2
    assert sorted(seen) == [("a", 1), ("d", 1)]


async def test_jobs_without_a_dedup_key_never_collide(jobs: Jobs) -> None:
    seen: list[tuple[str, int]] = []
    greet = greeting_task(jobs, seen)
    async with jobs.uow() as uow:
        for name in ("a", "b", "c"):
            await jobs.queue.enqueue(uow, greet, Greeting(name=name))
    assert await jobs.count_jobs() == 3


async def test_a_delayed_job_waits_for_its_time(jobs: Jobs) -> None:
    seen: list[tuple[str, int]] = []
    greet = greeting_task(jobs, seen)
    async with jobs.uow() as uow:
        delayed = await jobs.queue.enqueue(uow, greet, Greeting(name="later"), delay=60)
        await jobs.queue.enqueue(
            uow,
            greet,
            Greeting(name="at"),
            run_at=jobs.clock.now() + timedelta(seconds=120),
        )

    record = await jobs.store.get(delayed.job_id)
    assert record is not None
    assert record.run_after == jobs.clock.now() + timedelta(seconds=60)
    worker = jobs.worker()
    assert await worker.run_due() == 0
    jobs.clock.advance(59)
    assert await worker.run_due() == 0
    jobs.clock.advance(1)
    assert await worker.run_due() == 1
    jobs.clock.advance(60)
    assert await worker.run_due() == 1
    assert seen == [("later", 1), ("at", 1)]


async def test_payloads_are_validated_on_enqueue(jobs: Jobs) -> None:
    @jobs.registry.task("sum")
    async def add(ctx: JobContext, payload: list[int]) -> int:
        return sum(payload)

    async with jobs.uow() as uow:
        with pytest.raises(PydanticValidationError):
            await jobs.queue.enqueue(uow, add, ["one", "two"])  # type: ignore[list-item]
        with pytest.raises(InvalidInputError):
            await jobs.queue.enqueue(uow, add, [1], delay=-1)
        with pytest.raises(InvalidInputError):
            await jobs.queue.enqueue(uow, add, [1], dedup_key="")
        ok = await jobs.queue.enqueue(uow, add, [1, 2, 3], owner_id="user-7")
    await jobs.worker().run_due()
    record = await jobs.store.get(ok.job_id)
    assert record is not None
    assert (record.status, record.result, record.owner_id) == (JobStatus.SUCCEEDED, 6, "user-7")
    assert record.payload == [1, 2, 3]


async def test_enqueue_needs_a_sql_unit_of_work(jobs: Jobs) -> None:
    from tiered.errors import ConfigurationError
    from tiered.unit_of_work import InMemoryUnitOfWork

    @jobs.registry.task("noop")
    async def noop(ctx: JobContext, payload: None) -> None:
        return None

    async with InMemoryUnitOfWork() as memory_uow:
        with pytest.raises(ConfigurationError):
            await jobs.queue.enqueue(memory_uow, noop, None)


async def test_an_unknown_job_reads_as_none(jobs: Jobs) -> None:
    import uuid

    assert await jobs.store.get(uuid.uuid4()) is None
