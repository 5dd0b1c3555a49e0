"""What happens once an enqueueing transaction has committed: the dispatch seam.

The jobs table is the outbox: a job exists once its row commits, whatever
happens next. A :class:`Dispatcher` only shortens the way from that commit to
a worker. In process, it wakes the local worker, so a job starts without
waiting for the next poll. A broker backend (Celery) publishes the job under
its outbox id as the broker's task id; a relay republishes rows whose
dispatch was lost, so a crash between commit and publish delays a job but
never loses it. Dispatchers are called after commit and must not raise:
the data is durable whatever they do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

__all__ = ["Dispatcher", "InProcessDispatcher", "JobRef", "NoDispatch"]


@dataclass(frozen=True, slots=True)
class JobRef:
    """A committed job, as a dispatcher needs it: the broker task id is ``str(id)``."""

    id: UUID
    task: str
    run_after: datetime


class Dispatcher(Protocol):
    async def dispatch(self, job: JobRef) -> None:
        """Hand a just-committed job on; failures are the dispatcher's to log."""
        ...


class NoDispatch:
    """Dispatch nothing: workers find committed jobs on their next poll."""

    async def dispatch(self, job: JobRef) -> None:
        return None


class InProcessDispatcher:
    """Wakes the workers of this process that subscribed to it."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call ``wake`` after each commit that enqueued; returns the unsubscribe function."""
        self._listeners.append(wake)

        def unsubscribe() -> None:
            if wake in self._listeners:
                self._listeners.remove(wake)

        return unsubscribe

    async def dispatch(self, job: JobRef) -> None:
        for wake in list(self._listeners):
            wake()
