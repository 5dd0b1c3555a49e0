"""Inside a Celery worker: a delivered job id becomes one try, or nothing.

The generic task ``tiered.jobs.run(job_id)`` claims the job's row with a lease
(``JobStore.claim_by_id``) and runs it through the same :class:`JobRunner` as
the in-process worker, renewing the lease while the handler runs. A message
for a job that is not due (finished, scheduled later, or running under a live
lease elsewhere) claims nothing and is acknowledged: the table decides, the
message only points at it. A failed try that has another one scheduled is
published again with its countdown; if that publish is lost, the relay
publishes the retry when it is due.

Handlers are coroutines and Celery's pool runs plain functions. Each worker
thread (the one thread of a ``solo`` worker, each child of a ``prefork``
pool) owns one event loop for its whole life, kept in an ``asyncio.Runner``,
and its own :class:`Database`: connections pooled on that loop are reused by
every job the thread runs, which a fresh ``asyncio.run`` per job could not
do. A process forked from one that already had them builds its own, and they
are closed when the worker shuts down. Pools without real threads (gevent,
eventlet) are not supported.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from celery import Celery, Task, signals

from tiered.clock import Clock, SystemClock
from tiered.db import Database
from tiered.jobs.celery_dispatch import JOB_TASK_NAME, CeleryDispatcher
from tiered.jobs.dispatch import JobRef
from tiered.jobs.records import JobStatus
from tiered.jobs.registry import TaskRegistry
from tiered.jobs.relay import JobPublisher
from tiered.jobs.runner import JobRunner
from tiered.jobs.store import ClaimedJob, JobStore
from tiered.jobs.tables import JobTables
from tiered.jobs.worker import default_worker_id
from tiered.observability.logging import get_logger
from tiered.settings import AppSettings

__all__ = ["CeleryJobExecutor", "install_job_task"]

_log = get_logger("tiered.jobs")

_WAITING = frozenset({JobStatus.QUEUED, JobStatus.FAILED})
CLAIM_RETRY_CAP = 60
"""Seconds at most between redeliveries of a job whose row could not be claimed."""


@dataclass(slots=True)
class _ThreadState:
    """What one worker thread keeps between jobs: its loop and its connections."""

    pid: int
    loop: asyncio.Runner
    database: Database
    store: JobStore
    runner: JobRunner
    dispatcher: CeleryDispatcher
    worker_id: str


class CeleryJobExecutor:
    """Runs delivered job ids on the jobs table of ``settings.database_url``."""

    def __init__(
        self,
        settings: AppSettings,
        registry: TaskRegistry,
        tables: JobTables,
        publisher: JobPublisher,
        *,
        clock: Clock | None = None,
        max_countdown: float | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.tables = tables
        self.publisher = publisher
        self.clock: Clock = clock or SystemClock()
        self.lease_seconds = settings.jobs_lease_seconds
        self.max_countdown = (
            settings.jobs_broker_max_countdown if max_countdown is None else max_countdown
        )
        self._states: dict[int, _ThreadState] = {}
        self._lock = threading.Lock()

    def execute(self, job_id: UUID) -> JobStatus | None:
        """Claim and run one try of ``job_id``; the status it ended in, ``None`` if it did not run.

        Raises only when the job could not be claimed (the database is
        unreachable): the message should then come back later.
        """
        state = self._state()
        return state.loop.run(self._execute(state, job_id))

    def close(self) -> None:
        """Close the loops and connections this process opened (at worker shutdown)."""
        with self._lock:
            mine = [state for state in self._states.values() if state.pid == os.getpid()]
            self._states.clear()
        for state in mine:
            try:
                state.loop.run(state.database.dispose())
            except Exception:
                _log.exception("job_executor_close_failed")
            finally:
                state.loop.close()

    def close_at_shutdown(self, **_: Any) -> None:
        """:meth:`close`, as a handler of Celery's worker shutdown signals."""
        self.close()

    def _state(self) -> _ThreadState:
        thread = threading.get_ident()
        state = self._states.get(thread)
        if state is not None and state.pid == os.getpid():
            return state
        with self._lock:
            database = Database.from_settings(self.settings)
            store = JobStore(database, self.tables, clock=self.clock)
            state = _ThreadState(
                pid=os.getpid(),
                loop=asyncio.Runner(),
                database=database,
                store=store,
                runner=JobRunner(store, self.registry, clock=self.clock),
                dispatcher=CeleryDispatcher(
                    self.publisher,
                    self.tables,
                    database=database,
                    clock=self.clock,
                    max_countdown=self.max_countdown,
                ),
                worker_id=default_worker_id(),
            )
            self._states[thread] = state
        return state

    async def _execute(self, state: _ThreadState, job_id: UUID) -> JobStatus | None:
        claimed = await state.store.claim_by_id(job_id, state.worker_id, lease=self.lease_seconds)
        if claimed is None:
            await self._not_claimed(state, job_id)
            return None
        try:
            status = await self._run_leased(state, claimed)
            if status is JobStatus.FAILED:
                await self._publish_retry(state, claimed)
        except Exception:
            # The outcome was not recorded: the lease expires and the relay
            # publishes the job again.
            _log.exception("job_outcome_not_recorded", job_id=str(job_id), task=claimed.task)
            return None
        return status

    async def _not_claimed(self, state: _ThreadState, job_id: UUID) -> None:
        """A delivery that found its job not due: a duplicate, or a message that came early.

        A message comes early when this worker's clock is behind the clock
        that scheduled the job; acknowledged as it is, it would leave a
        waiting job without a message. Such a job is published again for its
        due time (at once, if it became due since the claim was tried).
        """
        record = await state.store.get(job_id)
        if record is None or record.status not in _WAITING:
            _log.info("job_delivery_ignored", job_id=str(job_id))
            return
        _log.info("job_delivered_early", job_id=str(job_id), run_after=record.run_after.isoformat())
        await state.dispatcher.dispatch(JobRef(record.id, record.task, record.run_after))

    async def _run_leased(self, state: _ThreadState, job: ClaimedJob) -> JobStatus | None:
        renewal = asyncio.create_task(self._renew(state, job), name="jobs:lease-renewal")
        try:
            return await state.runner.run(job)
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal

    async def _renew(self, state: _ThreadState, job: ClaimedJob) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await state.store.renew(job.owner, [job.id], lease=self.lease_seconds)
            except Exception:
                _log.exception("job_lease_renewal_failed", job_id=str(job.id))

    async def _publish_retry(self, state: _ThreadState, job: ClaimedJob) -> None:
        record = await state.store.get(job.id)
        if record is not None and record.status is JobStatus.FAILED:
            await state.dispatcher.dispatch(JobRef(record.id, record.task, record.run_after))


def install_job_task(app: Celery, executor: CeleryJobExecutor) -> Task[Any, Any]:
    """Register ``tiered.jobs.run`` on ``app``, and close ``executor`` when the worker stops."""

    options: dict[str, Any] = {
        "name": JOB_TASK_NAME,
        "bind": True,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "ignore_result": True,
        "max_retries": None,
        # Not shared: Celery would otherwise add this app's task, bound to this
        # app's executor, to every app created later in the process.
        "shared": False,
    }

    def run_job(task: Task[Any, Any], job_id: str) -> str | None:
        try:
            parsed = UUID(job_id)
        except ValueError:
            _log.error("job_message_invalid", job_id=repr(job_id)[:100])
            return None
        try:
            status = executor.execute(parsed)
        except Exception as error:
            wait = min(2**task.request.retries, CLAIM_RETRY_CAP)
            _log.warning("job_claim_failed", job_id=job_id, retry_in=wait, error=repr(error))
            raise task.retry(exc=error, countdown=wait) from error
        return None if status is None else status.value

    registered = cast("Task[Any, Any]", app.task(**options)(run_job))
    # Weak references: the handlers live as long as the executor, that is, the app.
    signals.worker_process_shutdown.connect(executor.close_at_shutdown)
    signals.worker_shutdown.connect(executor.close_at_shutdown)
    return registered
