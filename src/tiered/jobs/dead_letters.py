"""The dead letters: jobs whose tries are spent, kept with their last error.

They stay in the jobs table (``status = 'dead'``) until someone decides:
requeue (a fresh set of tries, e.g. once the bug or the outage is fixed) or
purge. Nothing is dropped silently.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tiered.clock import Clock, SystemClock
from tiered.db import Database
from tiered.jobs.dispatch import Dispatcher, JobRef, NoDispatch
from tiered.jobs.records import JobRecord, JobStatus
from tiered.jobs.store import sessionmaker_of
from tiered.jobs.tables import JobTables
from tiered.unit_of_work import UnitOfWork

__all__ = ["DeadLetterQueue"]

_DEAD = JobStatus.DEAD.value


class DeadLetterQueue:
    """List, requeue and purge dead jobs."""

    def __init__(
        self,
        database: Database | async_sessionmaker[AsyncSession],
        tables: JobTables,
        *,
        clock: Clock | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker_of(database)
        self.tables = tables
        self.clock: Clock = clock or SystemClock()
        self.dispatcher: Dispatcher = dispatcher or NoDispatch()

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessionmaker)

    async def list(
        self, *, limit: int = 50, offset: int = 0, task: str | None = None
    ) -> builtins.list[JobRecord]:
        """Dead jobs, most recently dead first."""
        jobs = self.tables.jobs
        query = select(jobs).where(jobs.c.status == _DEAD)
        if task is not None:
            query = query.where(jobs.c.task == task)
        query = query.order_by(jobs.c.finished_at.desc(), jobs.c.id).limit(limit).offset(offset)
        async with self._uow().read_only() as uow:
            rows = (await uow.session.execute(query)).all()
        return [JobRecord.from_row(row._mapping) for row in rows]

    async def count(self, *, task: str | None = None) -> int:
        jobs = self.tables.jobs
        query = select(func.count()).select_from(jobs).where(jobs.c.status == _DEAD)
        if task is not None:
            query = query.where(jobs.c.task == task)
        async with self._uow().read_only() as uow:
            return int(await uow.session.scalar(query) or 0)

    async def requeue(self, job_id: UUID, *, max_tries: int | None = None) -> bool:
        """Queue a dead job again with a fresh set of tries; False if it is not dead.

        The last error stays on the row until the job succeeds.
        """
        if max_tries is not None and max_tries < 1:
            raise ValueError("max_tries must be at least 1")
        jobs = self.tables.jobs
        now = self.clock.now()
        values: dict[str, object] = {
            "status": JobStatus.QUEUED.value,
            "attempts": 0,
            "run_after": now,
            "lease_owner": None,
            "lease_expires_at": None,
            "finished_at": None,
            "updated_at": now,
        }
        if max_tries is not None:
            values["max_tries"] = max_tries
        uow = self._uow()
        async with uow:
            task = await uow.session.scalar(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == _DEAD)
                .values(**values)
                .returning(jobs.c.task)
            )
            if task is not None:
                uow.after_commit(lambda: self.dispatcher.dispatch(JobRef(job_id, task, now)))
        return task is not None

    async def purge(self, job_id: UUID) -> bool:
        """Delete one dead job (and its execution records); False if it is not dead."""
        jobs = self.tables.jobs
        async with self._uow() as uow:
            result = await uow.session.execute(
                delete(jobs).where(jobs.c.id == job_id, jobs.c.status == _DEAD)
            )
        return bool(getattr(result, "rowcount", 0))

    async def purge_all(self, *, finished_before: datetime | None = None) -> int:
        """Delete every dead job (those dead before ``finished_before``, if given)."""
        jobs = self.tables.jobs
        query = delete(jobs).where(jobs.c.status == _DEAD)
        if finished_before is not None:
            query = query.where(jobs.c.finished_at < finished_before)
        async with self._uow() as uow:
            result = await uow.session.execute(query)
        return int(getattr(result, "rowcount", 0))
