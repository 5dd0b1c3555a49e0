"""What a handler knows about the run it is in."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from tiered.clock import Clock
from tiered.jobs.records import Progress
from tiered.jobs.sql import HasSession, session_of

if TYPE_CHECKING:
    from tiered.jobs.store import ClaimedJob, JobStore
    from tiered.jobs.tables import JobTables

__all__ = ["JobContext"]


class JobContext:
    """The job id, this try's number, and the means to report progress.

    Delivery is at least once: the same job may run again after its worker
    died. ``attempt`` and the effect keys let a handler make that harmless
    (see :func:`tiered.jobs.run_once`).
    """

    __slots__ = ("_store", "clock", "job")

    def __init__(self, job: ClaimedJob, store: JobStore, clock: Clock) -> None:
        self.job = job
        self._store = store
        self.clock = clock

    @property
    def job_id(self) -> UUID:
        return self.job.id

    @property
    def task(self) -> str:
        return self.job.task

    @property
    def attempt(self) -> int:
        """This try's number, from 1."""
        return self.job.attempt

    @property
    def max_tries(self) -> int:
        return self.job.max_tries

    @property
    def last_try(self) -> bool:
        return self.job.last_try

    @property
    def worker(self) -> str:
        return self.job.owner

    @property
    def tables(self) -> JobTables:
        return self._store.tables

    def effect_key(self, name: str) -> str:
        """A key naming one effect of this job, the same on every try: give it to an
        external service as its idempotency key, so a retried call is recognised."""
        return f"{self.job.id}:{name}"

    async def report_progress(
        self, done: int, total: int | None = None, *, uow: HasSession | AsyncSession | None = None
    ) -> bool:
        """Record how far the job has come; readable at once through ``JobStore.get``.

        With ``uow`` (an active unit of work, or its session) the progress is
        written in that transaction and commits with the work it counts;
        without, it commits on its own (on SQLite, not while this task holds a
        writing transaction: that would wait for itself). False when this
        worker no longer holds the job's lease.
        """
        progress = Progress(done, total)
        session = session_of(uow) if uow is not None else None
        return await self._store.report_progress(self.job, progress, session)
