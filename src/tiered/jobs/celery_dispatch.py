"""Publishing jobs to Celery: the message is the job id, under the job id.

Each message names the one generic task (``tiered.jobs.run``) with the job's
outbox id as its only argument and as its Celery task id, so a message, a
retry and a republished duplicate are recognisably the same job. A publish is
a hint, never the record: if it fails, the job's row is still there and the
relay publishes it later. :class:`CeleryDispatcher` therefore never raises.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from celery import Celery
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tiered.clock import Clock, SystemClock
from tiered.db import Database
from tiered.jobs.dispatch import JobRef
from tiered.jobs.relay import JobPublisher, stamp_dispatched
from tiered.jobs.store import sessionmaker_of
from tiered.jobs.tables import JobTables
from tiered.observability.logging import get_logger
from tiered.unit_of_work import UnitOfWork

__all__ = ["DEFAULT_QUEUE", "JOB_TASK_NAME", "CeleryDispatcher", "CeleryPublisher"]

_log = get_logger("tiered.jobs")

JOB_TASK_NAME = "tiered.jobs.run"
"""The Celery task every job travels as; the job's own task name stays in the jobs table."""
DEFAULT_QUEUE = "tiered-jobs"
PUBLISH_TIMEOUT = 5.0
"""Seconds a publish may take before the caller stops waiting for it."""


class CeleryPublisher:
    """Sends ``tiered.jobs.run(job_id)`` with ``task_id=job_id`` to the app's jobs queue.

    Celery's publishing is blocking I/O; it runs in a thread, and the caller
    waits ``timeout`` seconds at most (a message sent after that is a
    duplicate at worst, which the worker's claim makes harmless).
    """

    def __init__(
        self, app: Celery, *, queue: str | None = None, timeout: float = PUBLISH_TIMEOUT
    ) -> None:
        self.app = app
        self.queue: str = queue or str(app.conf.task_default_queue or DEFAULT_QUEUE)
        self.timeout = timeout

    async def publish(self, job: JobRef, *, countdown: float | None = None) -> None:
        async with asyncio.timeout(self.timeout):
            await asyncio.to_thread(self._send, job, countdown)

    def _send(self, job: JobRef, countdown: float | None) -> None:
        self.app.send_task(
            JOB_TASK_NAME,
            args=[str(job.id)],
            task_id=str(job.id),
            queue=self.queue,
            countdown=countdown if countdown else None,
        )


class CeleryDispatcher:
    """The :class:`~tiered.jobs.Dispatcher` of the Celery backend: publish after commit.

    A job due within ``max_countdown`` seconds is published at once (with a
    countdown when it is not due yet); a later one is left to the relay, which
    publishes it when it is due: Redis delivers a message held back past its
    visibility timeout a second time, and RabbitMQ closes a consumer that holds
    one past its consumer timeout. Each publish is stamped on the job's row
    (``dispatched_at``) once a database is bound, so the relay does not repeat
    it; without one the relay publishes the job a second time, harmlessly.
    """

    def __init__(
        self,
        publisher: JobPublisher,
        tables: JobTables,
        *,
        database: Database | async_sessionmaker[AsyncSession] | None = None,
        clock: Clock | None = None,
        max_countdown: float = 600.0,
    ) -> None:
        self.publisher = publisher
        self.tables = tables
        self.clock: Clock = clock or SystemClock()
        self.max_countdown = max_countdown
        self._sessionmaker = sessionmaker_of(database) if database is not None else None

    def bind(self, database: Database | async_sessionmaker[AsyncSession] | None) -> None:
        """Record publishes in ``database`` from now on (``None``: stop recording)."""
        self._sessionmaker = sessionmaker_of(database) if database is not None else None

    async def dispatch(self, job: JobRef) -> None:
        now = self.clock.now()
        countdown = (job.run_after - now).total_seconds()
        if countdown > self.max_countdown:
            return
        try:
            await self.publisher.publish(job, countdown=countdown if countdown > 0 else None)
        except Exception as error:
            _log.warning("job_publish_failed", job_id=str(job.id), task=job.task, error=repr(error))
            return
        await self._stamp(job, max(now, job.run_after))

    async def _stamp(self, job: JobRef, deliverable_at: datetime) -> None:
        if self._sessionmaker is None:
            return
        try:
            async with UnitOfWork(self._sessionmaker) as uow:
                await uow.session.execute(stamp_dispatched(self.tables, [job.id], deliverable_at))
        except Exception as error:
            _log.warning(
                "job_publish_not_recorded", job_id=str(job.id), task=job.task, error=repr(error)
            )
