"""The worker's side of the jobs table: claim with a lease, then finish under it.

A claim is one ``UPDATE … RETURNING`` over the due rows (on PostgreSQL the
rows are picked ``FOR UPDATE SKIP LOCKED``, so workers never wait for each
other; on SQLite the writer lock serialises claims). It raises ``attempts``
and stamps ``lease_owner`` and ``lease_expires_at``. A job whose lease
expired (its worker died or hung) is due again. Every later write for that
job names the owner and the attempt it claimed, so a worker that lost its
lease cannot overwrite the outcome of the one that holds it now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tiered.clock import Clock, SystemClock
from tiered.db import Database
from tiered.jobs.records import WAITING, JobRecord, JobStatus, Progress
from tiered.jobs.tables import JobTables
from tiered.unit_of_work import UnitOfWork

__all__ = ["ClaimedJob", "JobStore", "sessionmaker_of"]

LEASE_EXPIRED_ON_LAST_TRY = (
    "the worker running its last try stopped before finishing (lease expired)"
)
ERROR_LENGTH = 4000


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job this worker holds the lease of; ``attempt`` counts from 1."""

    id: UUID
    task: str
    payload: Any
    attempt: int
    max_tries: int
    owner: str

    @property
    def last_try(self) -> bool:
        return self.attempt >= self.max_tries


def sessionmaker_of(
    database: Database | async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    return database.sessionmaker if isinstance(database, Database) else database


class JobStore:
    """Reads and writes of the jobs table outside the enqueueing transaction."""

    def __init__(
        self,
        database: Database | async_sessionmaker[AsyncSession],
        tables: JobTables,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker_of(database)
        self.tables = tables
        self.clock: Clock = clock or SystemClock()

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessionmaker)

    async def get(self, job_id: UUID) -> JobRecord | None:
        """The job's status, progress, result or error; ``None`` if there is no such job."""
        jobs = self.tables.jobs
        async with self._uow().read_only() as uow:
            row = (await uow.session.execute(select(jobs).where(jobs.c.id == job_id))).first()
        return JobRecord.from_row(row._mapping) if row is not None else None

    def _due(self, now: datetime) -> ColumnElement[bool]:
        jobs = self.tables.jobs
        return or_(
            and_(jobs.c.status.in_(WAITING), jobs.c.run_after <= now),
            and_(jobs.c.status == JobStatus.RUNNING.value, jobs.c.lease_expires_at <= now),
        )

    async def _bury_expired(self, session: AsyncSession, now: datetime) -> None:
        """A job whose last try's worker died goes to the dead letters, not round again."""
        jobs = self.tables.jobs
        await session.execute(
            update(jobs)
            .where(
                jobs.c.status == JobStatus.RUNNING.value,
                jobs.c.lease_expires_at <= now,
                jobs.c.attempts >= jobs.c.max_tries,
            )
            .values(
                status=JobStatus.DEAD.value,
                error=LEASE_EXPIRED_ON_LAST_TRY,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
                finished_at=now,
            )
        )

    def _claimed_values(self, owner: str, now: datetime, lease: float) -> dict[str, Any]:
        return {
            "status": JobStatus.RUNNING.value,
            "attempts": self.tables.jobs.c.attempts + 1,
            "lease_owner": owner,
            "lease_expires_at": now + timedelta(seconds=lease),
            "updated_at": now,
        }

    def _returned(self) -> tuple[Any, ...]:
        jobs = self.tables.jobs
        return (jobs.c.id, jobs.c.task, jobs.c.payload, jobs.c.attempts, jobs.c.max_tries)

    async def claim(self, owner: str, *, limit: int, lease: float) -> list[ClaimedJob]:
        """Lease up to ``limit`` due jobs to ``owner`` for ``lease`` seconds, oldest first."""
        if limit < 1:
            return []
        jobs = self.tables.jobs
        now = self.clock.now()
        async with self._uow() as uow:
            await self._bury_expired(uow.session, now)
            pick = select(jobs.c.id).where(self._due(now)).order_by(jobs.c.run_after).limit(limit)
            if uow.session.get_bind().dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            rows = await uow.session.execute(
                update(jobs)
                .where(jobs.c.id.in_(pick.scalar_subquery()))
                .values(**self._claimed_values(owner, now, lease))
                .returning(*self._returned())
            )
            return [self._claimed(row, owner) for row in rows]

    async def claim_by_id(self, job_id: UUID, owner: str, *, lease: float) -> ClaimedJob | None:
        """Lease one job if it is due: how a broker-delivered job id becomes a run.

        ``None`` when the job is not due (running under a live lease, finished,
        scheduled later, or gone): a duplicate delivery then runs nothing.
        """
        jobs = self.tables.jobs
        now = self.clock.now()
        async with self._uow() as uow:
            await self._bury_expired(uow.session, now)
            row = (
                await uow.session.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id, self._due(now))
                    .values(**self._claimed_values(owner, now, lease))
                    .returning(*self._returned())
                )
            ).first()
        return self._claimed(row, owner) if row is not None else None

    @staticmethod
    def _claimed(row: Any, owner: str) -> ClaimedJob:
        return ClaimedJob(
            id=row.id,
            task=row.task,
            payload=row.payload,
            attempt=row.attempts,
            max_tries=row.max_tries,
            owner=owner,
        )

    def _held(self, job: ClaimedJob) -> ColumnElement[bool]:
        jobs = self.tables.jobs
        return and_(
            jobs.c.id == job.id,
            jobs.c.status == JobStatus.RUNNING.value,
            jobs.c.lease_owner == job.owner,
            jobs.c.attempts == job.attempt,
        )

    async def _write_held(self, job: ClaimedJob, values: dict[str, Any]) -> bool:
        """Apply ``values`` if ``job``'s lease is still this worker's; whether it was."""
        async with self._uow() as uow:
            result = await uow.session.execute(
                update(self.tables.jobs).where(self._held(job)).values(**values)
            )
        return bool(getattr(result, "rowcount", 0))

    async def renew(self, owner: str, job_ids: list[UUID], *, lease: float) -> int:
        """Extend the leases ``owner`` still holds on ``job_ids``; how many it held."""
        if not job_ids:
            return 0
        jobs = self.tables.jobs
        now = self.clock.now()
        async with self._uow() as uow:
            result = await uow.session.execute(
                update(jobs)
                .where(
                    jobs.c.id.in_(job_ids),
                    jobs.c.status == JobStatus.RUNNING.value,
                    jobs.c.lease_owner == owner,
                )
                .values(lease_expires_at=now + timedelta(seconds=lease), updated_at=now)
            )
        return int(getattr(result, "rowcount", 0))

    async def complete(self, job: ClaimedJob, result: Any) -> bool:
        now = self.clock.now()
        return await self._write_held(
            job,
            {
                "status": JobStatus.SUCCEEDED.value,
                "result": result,
                "error": None,
                "lease_owner": None,
                "lease_expires_at": None,
                "updated_at": now,
                "finished_at": now,
            },
        )

    async def fail(self, job: ClaimedJob, error: str, *, retry_at: datetime | None) -> bool:
        """Record a failed try: retried at ``retry_at``, or dead when it is ``None``."""
        now = self.clock.now()
        values: dict[str, Any] = {
            "error": error[:ERROR_LENGTH],
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": now,
        }
        if retry_at is None:
            values.update(status=JobStatus.DEAD.value, finished_at=now)
        else:
            values.update(status=JobStatus.FAILED.value, run_after=retry_at)
        return await self._write_held(job, values)

    async def release(self, job: ClaimedJob) -> bool:
        """Give a job back unfinished (shutdown), without spending its try."""
        return await self._write_held(
            job,
            {
                "status": JobStatus.QUEUED.value,
                "attempts": self.tables.jobs.c.attempts - 1,
                "lease_owner": None,
                "lease_expires_at": None,
                "updated_at": self.clock.now(),
            },
        )

    async def report_progress(
        self, job: ClaimedJob, progress: Progress, session: AsyncSession | None = None
    ) -> bool:
        """Store ``progress``; in ``session``'s transaction when given, so it commits
        together with the work it counts."""
        values = {"progress": progress.as_json(), "updated_at": self.clock.now()}
        if session is None:
            return await self._write_held(job, values)
        result = await session.execute(
            update(self.tables.jobs).where(self._held(job)).values(**values)
        )
        return bool(getattr(result, "rowcount", 0))

    async def next_due(self) -> datetime | None:
        """When the earliest waiting job becomes due or running lease expires."""
        jobs = self.tables.jobs
        async with self._uow().read_only() as uow:
            waiting = await uow.session.scalar(
                select(func.min(jobs.c.run_after)).where(jobs.c.status.in_(WAITING))
            )
            leased = await uow.session.scalar(
                select(func.min(jobs.c.lease_expires_at)).where(
                    jobs.c.status == JobStatus.RUNNING.value
                )
            )
        found = [moment for moment in (waiting, leased) if moment is not None]
        return min(found) if found else None

    async def purge_succeeded(self, *, finished_before: datetime) -> int:
        """Delete succeeded jobs finished before a time (retention); how many."""
        jobs = self.tables.jobs
        async with self._uow() as uow:
            result = await uow.session.execute(
                delete(jobs).where(
                    jobs.c.status == JobStatus.SUCCEEDED.value,
                    jobs.c.finished_at < finished_before,
                )
            )
        return int(getattr(result, "rowcount", 0))
