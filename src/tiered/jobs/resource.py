"""The in-process worker as a lifespan resource: started after the database, drained at stop.

``create_app(settings, resources=[job_worker_resource(...)])`` starts the worker
once the database is up and stops it before the database is disposed, giving
running jobs ``jobs_shutdown_grace`` seconds. The worker is then in
``app_state(request).extras["jobs.worker"]`` and ``/health/ready`` reports it
as ``jobs``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from random import Random

from tiered.app.lifespan import Resource
from tiered.app.state import AppState
from tiered.clock import Clock
from tiered.jobs.dispatch import InProcessDispatcher
from tiered.jobs.registry import TaskRegistry
from tiered.jobs.tables import JobTables
from tiered.jobs.worker import JobWorker
from tiered.observability.health import HealthProbe
from tiered.settings import AppSettings

__all__ = ["WORKER_STATE_KEY", "JobWorkerOptions", "job_worker_resource"]

WORKER_STATE_KEY = "jobs.worker"


@dataclass(frozen=True, slots=True)
class JobWorkerOptions:
    concurrency: int = 4
    lease_seconds: float = 60.0
    poll_interval: float = 2.0
    shutdown_grace: float = 10.0

    @classmethod
    def from_settings(cls, settings: AppSettings) -> JobWorkerOptions:
        return cls(
            concurrency=settings.jobs_concurrency,
            lease_seconds=settings.jobs_lease_seconds,
            poll_interval=settings.jobs_poll_interval,
            shutdown_grace=settings.jobs_shutdown_grace,
        )


def job_worker_resource(
    registry: TaskRegistry,
    tables: JobTables,
    *,
    dispatcher: InProcessDispatcher | None = None,
    options: JobWorkerOptions | None = None,
    clock: Clock | None = None,
    random: Random | None = None,
) -> Resource:
    """A resource running a :class:`JobWorker` on the app's database.

    Pass the ``dispatcher`` the app's :class:`JobQueue` dispatches to, so a
    commit wakes the worker; ``options`` default to the ``jobs_*`` settings.
    """

    @asynccontextmanager
    async def run_worker(state: AppState) -> AsyncIterator[None]:
        chosen = options or JobWorkerOptions.from_settings(state.settings)
        worker = JobWorker(
            state.database,
            tables,
            registry,
            concurrency=chosen.concurrency,
            lease_seconds=chosen.lease_seconds,
            poll_interval=chosen.poll_interval,
            clock=clock,
            random=random,
        )
        unsubscribe = dispatcher.subscribe(worker.wake) if dispatcher is not None else None
        await worker.start()
        state.extras[WORKER_STATE_KEY] = worker
        state.probes.append(HealthProbe("jobs", worker.check, state.settings.health_check_timeout))
        try:
            yield
        finally:
            if unsubscribe is not None:
                unsubscribe()
            await worker.stop(chosen.shutdown_grace)
            state.extras.pop(WORKER_STATE_KEY, None)

    return run_worker
