"""The relay: publishes committed jobs that no message stands for, so none is lost.

With a broker backend the jobs table stays the outbox, and a message is only
a hint that a job is due. The dispatcher publishes a job right after its
commit, but that publish can fail, the process can die in between, a broker
can lose a message, and a message consumed while another worker held the
job's lease is gone once acknowledged. The relay closes every one of those
gaps by looking at the table: it publishes each job that is due and has no
live message, which is one of:

- never published (``dispatched_at`` is null);
- published before it last became due: a retry scheduled after its failed
  try, a dead job requeued (``dispatched_at < run_after``);
- running under a lease that expired after the last publish: its worker was
  killed, and the message that brought the job was redelivered or dropped
  (``dispatched_at < lease_expires_at``);
- published longer ago than ``redispatch_after`` and still not claimed: the
  broker lost it.

``dispatched_at`` holds the moment the last message becomes deliverable: the
publish time, or the due time of a message published with a countdown.
Rows are picked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and stay locked until
their publish is recorded, so two relays never publish one row twice; on
SQLite the writer lock serialises relays. A duplicate message can still
happen (a crash between publish and commit) and is harmless: the worker
claims the row before it runs anything.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import Update

from tiered.app.lifespan import Resource
from tiered.app.state import AppState
from tiered.clock import Clock, SystemClock
from tiered.db import Database
from tiered.jobs.dispatch import JobRef
from tiered.jobs.records import WAITING, JobStatus
from tiered.jobs.store import sessionmaker_of
from tiered.jobs.tables import JobTables
from tiered.observability.health import HealthProbe
from tiered.observability.logging import get_logger
from tiered.settings import AppSettings
from tiered.unit_of_work import UnitOfWork

__all__ = [
    "RELAY_STATE_KEY",
    "JobPublisher",
    "JobRelay",
    "JobRelayOptions",
    "RelayStoppedError",
    "job_relay_resource",
    "stamp_dispatched",
]

_log = get_logger("tiered.jobs")

RELAY_STATE_KEY = "jobs.relay"
MAX_FAILURE_WAIT = 30.0
"""Seconds a relay waits at most after failed rounds (broker or database down)."""


class JobPublisher(Protocol):
    """Hands a job to a broker: the message carries the job id, used as the broker's task id."""

    async def publish(self, job: JobRef, *, countdown: float | None = None) -> None:
        """Publish ``job``, deliverable after ``countdown`` seconds; raise when it failed."""
        ...


class BindsDatabase(Protocol):
    """A dispatcher that records its publishes once it knows the app's database."""

    def bind(self, database: Database | async_sessionmaker[AsyncSession] | None) -> None: ...


class RelayStoppedError(RuntimeError):
    """The relay's loop is not running (never started, stopped, or crashed)."""


def stamp_dispatched(
    tables: JobTables, job_ids: Iterable[UUID], deliverable_at: datetime
) -> Update:
    """Record that a message for each job is deliverable from ``deliverable_at`` on.

    Never moves the stamp backwards, so a late write of an earlier publish
    cannot make a job look unpublished.
    """
    jobs = tables.jobs
    return (
        update(jobs)
        .where(
            jobs.c.id.in_(list(job_ids)),
            or_(jobs.c.dispatched_at.is_(None), jobs.c.dispatched_at < deliverable_at),
        )
        .values(dispatched_at=deliverable_at)
    )


@dataclass(frozen=True, slots=True)
class JobRelayOptions:
    interval: float = 1.0
    redispatch_after: float = 3600.0
    grace: float = 5.0
    """Seconds a job is left to its dispatcher after becoming due, before the relay steps in."""
    batch_size: int = 100

    @classmethod
    def from_settings(cls, settings: AppSettings) -> JobRelayOptions:
        return cls(
            interval=settings.jobs_relay_interval,
            redispatch_after=settings.jobs_relay_redispatch_after,
        )


class JobRelay:
    """Publishes the jobs that are due and have no live message, every ``interval`` seconds."""

    def __init__(
        self,
        database: Database | async_sessionmaker[AsyncSession],
        tables: JobTables,
        publisher: JobPublisher,
        *,
        options: JobRelayOptions | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.options = options or JobRelayOptions()
        if self.options.interval <= 0 or self.options.batch_size < 1:
            raise ValueError("a relay needs interval > 0 and batch_size >= 1")
        self.sessionmaker = sessionmaker_of(database)
        self.tables = tables
        self.publisher = publisher
        self.clock: Clock = clock or SystemClock()
        self._loop: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def publish_due(self) -> int:
        """Publish every job that needs a message now; how many were published.

        A failed publish ends the round: the jobs published before it are
        recorded, then the error propagates and the rest wait for the next one.
        """
        total = 0
        while True:
            published, full = await self._publish_batch()
            total += published
            if not full:
                return total

    def _needs_message(self, now: datetime) -> ColumnElement[bool]:
        jobs = self.tables.jobs
        sent = jobs.c.dispatched_at
        settled = now - timedelta(seconds=self.options.grace)
        lost_before = now - timedelta(seconds=self.options.redispatch_after)
        waiting = jobs.c.status.in_(WAITING)
        running = jobs.c.status == JobStatus.RUNNING.value
        return or_(
            and_(
                waiting,
                jobs.c.run_after <= settled,
                or_(sent.is_(None), sent < jobs.c.run_after),
            ),
            and_(
                running,
                jobs.c.lease_expires_at <= settled,
                or_(sent.is_(None), sent < jobs.c.lease_expires_at),
            ),
            and_(
                sent <= lost_before,
                or_(
                    and_(waiting, jobs.c.run_after <= now),
                    and_(running, jobs.c.lease_expires_at <= now),
                ),
            ),
        )

    async def _publish_batch(self) -> tuple[int, bool]:
        jobs = self.tables.jobs
        now = self.clock.now()
        published: list[UUID] = []
        failure: Exception | None = None
        async with UnitOfWork(self.sessionmaker) as uow:
            pick = (
                select(jobs.c.id, jobs.c.task, jobs.c.run_after)
                .where(self._needs_message(now))
                .order_by(jobs.c.run_after)
                .limit(self.options.batch_size)
            )
            if uow.session.get_bind().dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            rows = (await uow.session.execute(pick)).all()
            for row in rows:
                try:
                    await self.publisher.publish(JobRef(row.id, row.task, row.run_after))
                except Exception as error:
                    failure = error
                    break
                published.append(row.id)
            if published:
                await uow.session.execute(stamp_dispatched(self.tables, published, now))
        if published:
            _log.info("jobs_relayed", count=len(published))
        if failure is not None:
            raise failure
        return len(published), len(rows) == self.options.batch_size

    @property
    def running(self) -> bool:
        return self._loop is not None and not self._loop.done()

    async def start(self) -> None:
        if self._loop is not None:
            raise RuntimeError("this relay is already started")
        self._stopping.clear()
        self._loop = asyncio.create_task(self._run(), name="jobs:relay")
        _log.info("job_relay_started", interval=self.options.interval)

    async def stop(self) -> None:
        """Finish the round in progress, then stop."""
        self._stopping.set()
        if self._loop is not None:
            with contextlib.suppress(Exception):
                await self._loop
        self._loop = None
        _log.info("job_relay_stopped")

    async def check(self) -> None:
        """Raise unless the relay's loop is alive (a readiness probe)."""
        if not self.running:
            raise RelayStoppedError("the jobs relay is not running")

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                await self.publish_due()
                failures = 0
            except Exception:
                failures += 1
                _log.exception("job_relay_round_failed", failures=failures)
            wait = self.options.interval
            if failures:
                wait = max(wait, min(wait * 2 ** min(failures, 16), MAX_FAILURE_WAIT))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._stopping.wait()


def job_relay_resource(
    tables: JobTables,
    publisher: JobPublisher,
    *,
    dispatcher: BindsDatabase | None = None,
    options: JobRelayOptions | None = None,
    clock: Clock | None = None,
) -> Resource:
    """A lifespan resource running a :class:`JobRelay` on the app's database.

    ``dispatcher`` (the ``CeleryDispatcher`` the app's queue uses) is bound to
    the app's database for the app's lifetime, so its publishes are recorded
    and the relay does not repeat them. ``/health/ready`` reports the relay as
    ``jobs_relay``; options default to the ``jobs_relay_*`` settings.
    """

    @asynccontextmanager
    async def run_relay(state: AppState) -> AsyncIterator[None]:
        relay = JobRelay(
            state.database,
            tables,
            publisher,
            options=options or JobRelayOptions.from_settings(state.settings),
            clock=clock,
        )
        if dispatcher is not None:
            dispatcher.bind(state.database)
        await relay.start()
        state.extras[RELAY_STATE_KEY] = relay
        state.probes.append(
            HealthProbe("jobs_relay", relay.check, state.settings.health_check_timeout)
        )
        try:
            yield
        finally:
            await relay.stop()
            if dispatcher is not None:
                dispatcher.bind(None)
            state.extras.pop(RELAY_STATE_KEY, None)

    return run_relay
