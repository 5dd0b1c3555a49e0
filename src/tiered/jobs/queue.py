"""Enqueueing: a job row written in the caller's own transaction.

The row is the message. Written on the unit of work's session, it commits or
rolls back with the rest of the use case: a request that fails enqueues
nothing, and a committed job cannot be lost by a crash before it is handed to a
worker. A ``dedup_key`` makes a second enqueue of the same work a no-op that
returns the first job's id, decided by the database's unique index, not by a
check-then-insert that two requests could both pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol, TypeVar
from uuid import UUID, uuid4

from sqlalchemy import insert, select

from tiered.clock import Clock, SystemClock
from tiered.errors import InvalidInputError, TransactionConflictError
from tiered.jobs.dispatch import Dispatcher, JobRef, NoDispatch
from tiered.jobs.records import JobStatus
from tiered.jobs.registry import Task
from tiered.jobs.sql import dialect_of, insert_unless_present, session_of
from tiered.jobs.tables import DEDUP_KEY_LENGTH, OWNER_ID_LENGTH, JobTables
from tiered.unit_of_work import AfterCommitHook

__all__ = ["Enqueued", "EnqueuesJobs", "JobQueue", "SupportsAfterCommit", "run_time"]

P = TypeVar("P")


class SupportsAfterCommit(Protocol):
    def after_commit(self, hook: AfterCommitHook) -> None: ...


@dataclass(frozen=True, slots=True)
class Enqueued:
    """The job's id; ``created`` is false when ``dedup_key`` matched an existing job."""

    job_id: UUID
    created: bool = True


class EnqueuesJobs(Protocol):
    """What services depend on: :class:`JobQueue`, or ``InMemoryJobQueue`` in unit tests."""

    async def enqueue(
        self,
        uow: SupportsAfterCommit,
        task: Task[P, Any],
        payload: P,
        *,
        delay: float | timedelta | None = None,
        run_at: datetime | None = None,
        dedup_key: str | None = None,
        owner_id: str | None = None,
    ) -> Enqueued: ...


def run_time(now: datetime, delay: float | timedelta | None, run_at: datetime | None) -> datetime:
    """When a job becomes due: ``run_at``, else ``now + delay``, else now."""
    if run_at is not None and delay is not None:
        raise InvalidInputError("Give a job either a delay or a run_at time, not both.")
    if run_at is not None:
        if run_at.tzinfo is None:
            raise InvalidInputError("run_at needs a timezone-aware datetime.")
        return run_at
    if delay is None:
        return now
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
    if seconds < 0:
        raise InvalidInputError("A job's delay cannot be negative.")
    return now + timedelta(seconds=seconds)


def check_keys(dedup_key: str | None, owner_id: str | None) -> None:
    if dedup_key is not None and not 0 < len(dedup_key) <= DEDUP_KEY_LENGTH:
        raise InvalidInputError(f"A dedup key has 1 to {DEDUP_KEY_LENGTH} characters.")
    if owner_id is not None and len(owner_id) > OWNER_ID_LENGTH:
        raise InvalidInputError(f"An owner id has at most {OWNER_ID_LENGTH} characters.")


class JobQueue:
    """Writes jobs into the unit of work's transaction; dispatches them after commit."""

    def __init__(
        self,
        tables: JobTables,
        *,
        dispatcher: Dispatcher | None = None,
        clock: Clock | None = None,
        new_id: Callable[[], UUID] = uuid4,
    ) -> None:
        self.tables = tables
        self.dispatcher: Dispatcher = dispatcher or NoDispatch()
        self.clock: Clock = clock or SystemClock()
        self._new_id = new_id

    async def enqueue(
        self,
        uow: SupportsAfterCommit,
        task: Task[P, Any],
        payload: P,
        *,
        delay: float | timedelta | None = None,
        run_at: datetime | None = None,
        dedup_key: str | None = None,
        owner_id: str | None = None,
    ) -> Enqueued:
        """Add a job to ``uow``'s transaction (an active tiered ``UnitOfWork``)."""
        session = session_of(uow)
        check_keys(dedup_key, owner_id)
        now = self.clock.now()
        due = run_time(now, delay, run_at)
        job_id = self._new_id()
        values: dict[str, Any] = {
            "id": job_id,
            "task": task.name,
            "payload": task.dump_payload(payload),
            "status": JobStatus.QUEUED.value,
            "attempts": 0,
            "max_tries": task.max_tries,
            "run_after": due,
            "dedup_key": dedup_key,
            "owner_id": owner_id,
            "created_at": now,
            "updated_at": now,
        }
        jobs = self.tables.jobs
        if dedup_key is None:
            await session.execute(insert(jobs).values(**values))
        else:
            statement = insert_unless_present(dialect_of(session), jobs, ["dedup_key"], **values)
            inserted = await session.execute(statement.returning(jobs.c.id))
            if inserted.first() is None:
                existing = await session.scalar(
                    select(jobs.c.id).where(jobs.c.dedup_key == dedup_key)
                )
                if existing is None:
                    raise TransactionConflictError(
                        "The job with this dedup key was removed while enqueueing; retry."
                    )
                return Enqueued(existing, created=False)
        uow.after_commit(partial(self.dispatcher.dispatch, JobRef(job_id, task.name, due)))
        return Enqueued(job_id)
