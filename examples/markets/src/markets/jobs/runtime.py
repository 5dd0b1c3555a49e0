"""The jobs of one markets app: its queue, and the worker that runs what it enqueues.

:class:`MarketsJobs` is built with the app. Requests enqueue through
:attr:`MarketsJobs.queue`, which wakes this process's worker after each
commit. When the app starts, :meth:`MarketsJobs.resource` builds the
handlers on the app's database (the mail backend wrapped in retries and the
``mail`` circuit breaker, email deduplication on Redis when the app has it,
else in memory) and, unless ``jobs_in_process`` is off, starts the worker:
after the database, before the app is ready; drained before the database
closes.

With ``jobs_backend=celery`` the queue publishes each job to the broker
once its transaction commits, and no worker runs in the process: ``markets
worker`` processes run the jobs, and the relay beside them publishes any job
whose publish was lost. The publishes are recorded on the app's database, so
the relay does not repeat them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

from celery import Celery
from starlette.requests import Request

from markets.config import Settings
from markets.jobs.broker import declared_registry, markets_celery_app
from markets.jobs.handlers import JobHandlers
from markets.mail import backend_mailer, resilient_mailer
from markets.repositories.tables import JOB_TABLES
from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.email_delivery import EmailDelivery
from markets.services.letters import Letters
from markets.services.mail import Mailer
from markets.services.market_import import MarketImporter
from markets.services.resolution_notices import ResolutionNotices
from markets.services.welcome import WelcomeSender
from tiered.app import AppState, Resource, app_state
from tiered.clock import Clock
from tiered.db import Database
from tiered.errors import ConfigurationError
from tiered.jobs import (
    CeleryDispatcher,
    DeadLetterQueue,
    InProcessDispatcher,
    JobQueue,
    JobStore,
    JobWorker,
    JobWorkerOptions,
    TaskRegistry,
    celery_dispatcher,
    job_worker_resource,
)
from tiered.resilience import (
    BreakerBackend,
    BreakerMetrics,
    Deduplicator,
    MemoryBreakerBackend,
    RedisBreakerBackend,
)
from tiered.settings import JobsBackendKind
from tiered.store import MemoryStore, RedisStore, Store

__all__ = ["JOBS", "MarketsJobs", "jobs_of", "markets_jobs"]

JOBS = "markets.jobs"
"""The key of the app's :class:`MarketsJobs` in ``app_state(request).extras``."""


class MarketsJobs:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        *,
        mailer: Mailer | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        dispatcher: InProcessDispatcher | CeleryDispatcher | None = None,
    ) -> None:
        """``mailer`` replaces the configured backend *and* its retries (tests inject one);
        ``sleep`` is the retry policy's wait (tests record it instead of waiting);
        ``dispatcher`` replaces the one ``jobs_backend`` calls for (a Celery worker gives
        its own)."""
        self.settings = settings
        self.clock = clock
        self.celery: Celery | None = None
        if dispatcher is None and settings.jobs_backend is JobsBackendKind.CELERY:
            self.celery = markets_celery_app(settings, declared_registry(), clock=clock)
            dispatcher = celery_dispatcher(self.celery, clock=clock)
        self.dispatcher = dispatcher or InProcessDispatcher()
        self.queue = JobQueue(JOB_TABLES, dispatcher=self.dispatcher, clock=clock)
        self.breaker_metrics: BreakerMetrics | None = None
        self._mailer = mailer
        self._sleep = sleep or asyncio.sleep
        self._database: Database | None = None
        self._registry: TaskRegistry | None = None

    @property
    def in_process(self) -> bool:
        """Whether this app's process runs the jobs: ``jobs_in_process``, on the embedded
        backend (another backend's workers run them elsewhere)."""
        return (
            self.settings.jobs_in_process
            and self.settings.jobs_backend is JobsBackendKind.INPROCESS
            and isinstance(self.dispatcher, InProcessDispatcher)
        )

    @property
    def database(self) -> Database:
        if self._database is None:
            raise ConfigurationError("The jobs start with the application lifespan.")
        return self._database

    @property
    def registry(self) -> TaskRegistry:
        if self._registry is None:
            raise ConfigurationError("The jobs start with the application lifespan.")
        return self._registry

    def unit_of_work(self) -> MarketsUnitOfWork:
        """A unit of work whose jobs wake this process's worker once they commit."""
        return MarketsUnitOfWork(self.database.sessionmaker, jobs=self.queue)

    def store(self) -> JobStore:
        return JobStore(self.database, JOB_TABLES, clock=self.clock)

    def dead_letters(self) -> DeadLetterQueue:
        return DeadLetterQueue(
            self.database, JOB_TABLES, clock=self.clock, dispatcher=self.dispatcher
        )

    def worker(self, *, concurrency: int | None = None) -> JobWorker:
        """A worker on the app's jobs, not started: ``await worker.run_due()`` runs what is due."""
        return JobWorker(
            self.database,
            JOB_TABLES,
            self.registry,
            concurrency=concurrency or self.settings.jobs_concurrency,
            lease_seconds=self.settings.jobs_lease_seconds,
            poll_interval=self.settings.jobs_poll_interval,
            clock=self.clock,
        )

    def attach(self, state: AppState) -> TaskRegistry:
        """Bind the handlers (and the recording of publishes) to ``state``'s database."""
        self._database = state.database
        self._registry = self._handlers(state).registry()
        if isinstance(self.dispatcher, CeleryDispatcher):
            self.dispatcher.bind(state.database)
        return self._registry

    def detach(self) -> None:
        if isinstance(self.dispatcher, CeleryDispatcher):
            self.dispatcher.bind(None)
        self._database = self._registry = None

    def resource(self, *, run_worker: bool | None = None) -> Resource:
        """Handlers on the app's database and, if ``run_worker`` (default:
        :attr:`in_process`), the in-process worker."""
        running = self.in_process if run_worker is None else run_worker
        wakes = self.dispatcher if isinstance(self.dispatcher, InProcessDispatcher) else None

        @asynccontextmanager
        async def start(state: AppState) -> AsyncIterator[None]:
            self.attach(state)
            state.extras[JOBS] = self
            try:
                async with AsyncExitStack() as stack:
                    if running:
                        worker = job_worker_resource(
                            self.registry,
                            JOB_TABLES,
                            dispatcher=wakes,
                            options=JobWorkerOptions.from_settings(self.settings),
                            clock=self.clock,
                        )
                        await stack.enter_async_context(worker(state))
                    yield
            finally:
                state.extras.pop(JOBS, None)
                self.detach()
                if self.celery is not None:
                    self.celery.close()

        return start

    def _handlers(self, state: AppState) -> JobHandlers:
        settings, clock = self.settings, self.clock
        mailer = self._mailer or resilient_mailer(
            backend_mailer(settings),
            settings,
            breaker_backend=self._breaker_backend(state),
            clock=clock,
            metrics=self.breaker_metrics,
            sleep=self._sleep,
        )
        delivery = EmailDelivery(
            mailer,
            Deduplicator(self._dedup_store(state), namespace="mail-sent", clock=clock),
            cooldown=settings.mail_dedup_cooldown,
        )
        letters = Letters(settings.mail_from, clock)
        return JobHandlers(
            welcome=WelcomeSender(self.unit_of_work, delivery, letters),
            resolution=ResolutionNotices(self.unit_of_work, delivery, letters, clock),
            importer=MarketImporter(
                self.unit_of_work, clock, batch_size=settings.import_batch_size
            ),
        )

    def _breaker_backend(self, state: AppState) -> BreakerBackend:
        if state.redis is not None:
            return RedisBreakerBackend(state.redis, prefix=f"{self.settings.app_name}:breaker:")
        return MemoryBreakerBackend(clock=self.clock)

    def _dedup_store(self, state: AppState) -> Store:
        if state.redis is not None:
            return RedisStore(state.redis, prefix=f"{self.settings.app_name}:")
        return MemoryStore(clock=self.clock)


def jobs_of(request: Request) -> MarketsJobs:
    """The app's jobs, for request handlers and the providers that build services."""
    jobs = app_state(request).extras.get(JOBS)
    if not isinstance(jobs, MarketsJobs):
        raise ConfigurationError("The application lifespan has not started.")
    return jobs


async def markets_jobs(request: Request) -> MarketsJobs:
    """:func:`jobs_of` as a dependency (async: a sync dependency hops through a thread)."""
    return jobs_of(request)
