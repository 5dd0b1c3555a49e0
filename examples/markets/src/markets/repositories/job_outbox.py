"""Enqueueing in the unit of work's own transaction: the port services use."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from tiered.jobs import Enqueued, EnqueuesJobs, SupportsAfterCommit, Task

__all__ = ["JobOutbox", "JobOutboxPort"]

P = TypeVar("P")


class JobOutboxPort(Protocol):
    async def enqueue(
        self,
        task: Task[P, Any],
        payload: P,
        *,
        dedup_key: str | None = None,
        owner_id: str | None = None,
    ) -> Enqueued: ...


class JobOutbox:
    """A job queue bound to one unit of work.

    A job written here commits or rolls back with the rest of the use case:
    a request that fails enqueues nothing, and one that commits cannot lose
    its job. The queue is the app's ``JobQueue`` (an ``InMemoryJobQueue`` in
    unit tests).
    """

    def __init__(self, queue: EnqueuesJobs, uow: SupportsAfterCommit) -> None:
        self.queue = queue
        self.uow = uow

    async def enqueue(
        self,
        task: Task[P, Any],
        payload: P,
        *,
        dedup_key: str | None = None,
        owner_id: str | None = None,
    ) -> Enqueued:
        return await self.queue.enqueue(
            self.uow, task, payload, dedup_key=dedup_key, owner_id=owner_id
        )
