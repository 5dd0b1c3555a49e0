"""The in-process worker: the jobs table is the queue, this process one of its consumers.

One loop claims as many due jobs as there are free slots (``concurrency``
bounds what runs at once), runs each in its own task, and sleeps until a slot
frees, a commit wakes it (the :class:`InProcessDispatcher`), or the poll
interval passes (jobs enqueued by other processes, retries coming due). A
second loop renews the leases of running jobs, so a long job is not taken
for a dead one; if this process dies, renewals stop and another worker takes
the job once its lease expires.

Stopping drains: no new claims, running jobs get ``grace`` seconds to finish,
and any still running after that are cancelled and given back to the queue
without spending their try.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from random import Random
from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tiered.clock import Clock, SystemClock
from tiered.db import Database
from tiered.jobs.registry import TaskRegistry
from tiered.jobs.runner import JobRunner
from tiered.jobs.store import ClaimedJob, JobStore
from tiered.jobs.tables import JobTables
from tiered.observability.logging import get_logger

__all__ = ["JobWorker", "WorkerStoppedError", "default_worker_id"]

_log = get_logger("tiered.jobs")


class WorkerStoppedError(RuntimeError):
    """The worker's loop is not running (never started, stopped, or crashed)."""


def default_worker_id() -> str:
    """Host, process and a random part: unique per worker, readable in the jobs table."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"


class JobWorker:
    """Claims and runs due jobs, at most ``concurrency`` at a time."""

    def __init__(
        self,
        database: Database | async_sessionmaker[AsyncSession],
        tables: JobTables,
        registry: TaskRegistry,
        *,
        concurrency: int = 4,
        lease_seconds: float = 60.0,
        poll_interval: float = 2.0,
        worker_id: str | None = None,
        clock: Clock | None = None,
        random: Random | None = None,
    ) -> None:
        if concurrency < 1 or lease_seconds <= 0 or poll_interval <= 0:
            raise ValueError("concurrency >= 1, lease_seconds > 0 and poll_interval > 0")
        self.clock: Clock = clock or SystemClock()
        self.store = JobStore(database, tables, clock=self.clock)
        self.runner = JobRunner(self.store, registry, clock=self.clock, random=random)
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.worker_id = worker_id or default_worker_id()
        self._running: dict[asyncio.Task[None], ClaimedJob] = {}
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` has begun: no more claims."""
        return self._stopping

    @property
    def running(self) -> int:
        """Jobs running now."""
        return len(self._running)

    def wake(self) -> None:
        """Look for due jobs now rather than at the next poll."""
        self._wakeup.set()

    async def start(self) -> None:
        if self._loop is not None:
            raise RuntimeError("this worker is already started")
        self._stopping = False
        self._loop = asyncio.create_task(self._claim_loop(), name=f"jobs:{self.worker_id}")
        self._renewer = asyncio.create_task(self._renew_loop(), name="jobs:lease-renewal")
        _log.info("job_worker_started", worker=self.worker_id, concurrency=self.concurrency)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming, give running jobs ``grace`` seconds, then cancel and release them."""
        self._stopping = True
        self._wakeup.set()
        if self._loop is not None:
            with contextlib.suppress(Exception):
                await self._loop
        running = set(self._running)
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        self._loop = self._renewer = None
        _log.info("job_worker_stopped", worker=self.worker_id)

    async def check(self) -> None:
        """Raise unless the claim loop is alive (a readiness probe)."""
        if self._loop is None or self._loop.done():
            raise WorkerStoppedError(f"job worker {self.worker_id} is not running")

    async def run_due(self) -> int:
        """Run every job due now, then return how many tries ran (no background loop).

        For tests, scripts and one-off maintenance; a job that fails and comes
        due again before the queue empties is tried again.
        """
        if self._loop is not None:
            raise RuntimeError("run_due() is for a worker that is not started")
        tries = 0
        while claimed := await self.store.claim(
            self.worker_id, limit=self.concurrency, lease=self.lease_seconds
        ):
            await asyncio.gather(*(self.runner.run(job) for job in claimed))
            tries += len(claimed)
        return tries

    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            free = self.concurrency - len(self._running)
            if free > 0:
                try:
                    claimed = await self.store.claim(
                        self.worker_id, limit=free, lease=self.lease_seconds
                    )
                except Exception:
                    _log.exception("job_claim_failed", worker=self.worker_id)
                    claimed = []
                for job in claimed:
                    self._start(job)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval):
                    await self._wakeup.wait()

    def _start(self, job: ClaimedJob) -> None:
        task = asyncio.create_task(self._execute(job), name=f"job:{job.task}:{job.id}")
        self._running[task] = job
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        self._wakeup.set()

    async def _execute(self, job: ClaimedJob) -> None:
        try:
            await self.runner.run(job)
        except asyncio.CancelledError:
            try:
                await self.store.release(job)
            except Exception:
                _log.exception("job_release_failed", job_id=str(job.id), task=job.task)
            _log.warning("job_released", job_id=str(job.id), task=job.task)
            raise
        except Exception:
            # The outcome could not be recorded (database down): the lease expires
            # and another try follows.
            _log.exception("job_outcome_not_recorded", job_id=str(job.id), task=job.task)

    async def _renew_loop(self) -> None:
        interval = self.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            ids = [job.id for job in self._running.values()]
            try:
                await self.store.renew(self.worker_id, ids, lease=self.lease_seconds)
            except Exception:
                _log.exception("job_lease_renewal_failed", worker=self.worker_id)
