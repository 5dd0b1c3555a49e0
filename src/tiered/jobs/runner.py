"""One try of one claimed job: run its handler, then record the outcome.

Kept apart from the polling worker so that any way of delivering a job (the
in-process worker, a broker's worker holding a job id) runs it the same way:
the same context, the same retry and dead-letter rules, the same fenced
writes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from random import Random
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from tiered.clock import Clock
from tiered.jobs.backoff import Backoff
from tiered.jobs.context import JobContext
from tiered.jobs.errors import PermanentJobFailure, UnknownTaskError
from tiered.jobs.records import JobStatus
from tiered.jobs.registry import Task, TaskRegistry
from tiered.jobs.store import ClaimedJob, JobStore
from tiered.observability.logging import get_logger

__all__ = ["JobRunner", "describe_error"]

_log = get_logger("tiered.jobs")


def describe_error(error: BaseException) -> str:
    """What the jobs table keeps of an error: its type and message, no traceback."""
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class JobRunner:
    """Runs claimed jobs through their registered handlers."""

    def __init__(
        self,
        store: JobStore,
        registry: TaskRegistry,
        *,
        clock: Clock | None = None,
        random: Random | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.clock: Clock = clock or store.clock
        self._random = random or Random()  # noqa: S311 (spreads retries; not a secret)

    async def run(self, job: ClaimedJob) -> JobStatus | None:
        """The status the job ended this try in; ``None`` if its lease was lost meanwhile.

        Cancellation (a shutdown past its grace) propagates; the caller decides
        what becomes of the job.
        """
        try:
            task = self.registry.get(job.task)
        except UnknownTaskError as error:
            return await self._failed(job, error, Backoff())
        try:
            payload = task.load_payload(job.payload)
        except ValidationError as error:
            return await self._failed(job, PermanentJobFailure(f"invalid payload: {error}"), None)
        try:
            result = await self._call(task, job, payload)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            return await self._failed(job, error, task.backoff)
        if not await self.store.complete(job, result):
            self._lost(job)
            return None
        _log.info("job_succeeded", job_id=str(job.id), task=job.task, attempt=job.attempt)
        return JobStatus.SUCCEEDED

    async def _call(self, task: Task[Any, Any], job: ClaimedJob, payload: Any) -> Any:
        ctx = JobContext(job, self.store, self.clock)
        return to_jsonable_python(await task.handler(ctx, payload))

    async def _failed(
        self, job: ClaimedJob, error: Exception, backoff: Backoff | None
    ) -> JobStatus | None:
        """Schedule the next try, or with no ``backoff`` (a permanent failure) bury the job."""
        retry_at = None
        if backoff is not None and not job.last_try and not isinstance(error, PermanentJobFailure):
            wait = backoff.delay(job.attempt, self._random)
            retry_at = self.clock.now() + timedelta(seconds=wait)
        status = JobStatus.FAILED if retry_at is not None else JobStatus.DEAD
        fields = {"job_id": str(job.id), "task": job.task, "attempt": job.attempt}
        if retry_at is None:
            _log.error("job_dead", **fields, exc_info=error)
        else:
            _log.warning(
                "job_failed", **fields, retry_at=retry_at.isoformat(), error=describe_error(error)
            )
        if not await self.store.fail(job, describe_error(error), retry_at=retry_at):
            self._lost(job)
            return None
        return status

    @staticmethod
    def _lost(job: ClaimedJob) -> None:
        _log.warning("job_lease_lost", job_id=str(job.id), task=job.task, attempt=job.attempt)
