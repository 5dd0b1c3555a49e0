"""A job queue for unit tests of services that run on in-memory units of work.

It keeps the one promise services rely on: a job exists once the transaction
that enqueued it commits, and not if it rolls back. Jobs are recorded, not
run; a test asserts on :attr:`InMemoryJobQueue.jobs` or runs a handler itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

from tiered.clock import Clock, SystemClock
from tiered.jobs.queue import Enqueued, SupportsAfterCommit, check_keys, run_time
from tiered.jobs.registry import Task

__all__ = ["InMemoryJobQueue", "QueuedJob"]

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class QueuedJob:
    id: UUID
    task: str
    payload: Any
    run_after: datetime
    dedup_key: str | None
    owner_id: str | None


class InMemoryJobQueue:
    """Records committed jobs in :attr:`jobs`, in commit order."""

    def __init__(self, *, clock: Clock | None = None, new_id: Callable[[], UUID] = uuid4) -> None:
        self.clock: Clock = clock or SystemClock()
        self.jobs: list[QueuedJob] = []
        self._new_id = new_id

    def of_task(self, task: Task[Any, Any] | str) -> list[QueuedJob]:
        name = task if isinstance(task, str) else task.name
        return [job for job in self.jobs if job.task == name]

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
        check_keys(dedup_key, owner_id)
        if dedup_key is not None:
            for job in self.jobs:
                if job.dedup_key == dedup_key:
                    return Enqueued(job.id, created=False)
        job = QueuedJob(
            id=self._new_id(),
            task=task.name,
            payload=task.dump_payload(payload),
            run_after=run_time(self.clock.now(), delay, run_at),
            dedup_key=dedup_key,
            owner_id=owner_id,
        )

        async def record() -> None:
            self.jobs.append(job)

        uow.after_commit(record)
        return Enqueued(job.id)
