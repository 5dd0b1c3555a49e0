"""``markets worker --backend celery``: the markets handlers inside a Celery worker.

The handlers need a database, and a Redis client when the service has one,
and both belong to the event loop they were opened on. A Celery worker runs
each job on an event loop kept by its worker thread (the one thread of a
``solo`` worker, each child of a ``prefork`` pool), so the handlers are
built there, at that thread's first job, and kept for the next ones: a
:class:`MarketsJobs` per thread, whose queue publishes to the same broker
(a resolution announcement enqueues its notices). They are closed when the
worker shuts down, before tiered closes the thread's loop.

The relay runs in the worker's main process: it publishes the jobs whose
publish a server lost, retries, requeued dead letters, and the jobs of a
worker killed mid-run once their lease has expired.
"""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass
from typing import Any

from celery import Celery, signals

from markets.config import Settings
from markets.jobs.broker import markets_celery_app
from markets.jobs.runtime import MarketsJobs
from markets.services.tasks import DECLARED_TASKS, bind
from tiered.app import AppState
from tiered.clock import Clock, SystemClock
from tiered.db import Database
from tiered.errors import ConfigurationError
from tiered.jobs import JobContext, Task, TaskRegistry, celery_dispatcher, run_celery_worker
from tiered.observability import get_logger
from tiered.redis_connection import connect_redis

__all__ = ["POOLS", "ThreadHandlers", "run_celery"]

_log = get_logger("markets.jobs")

POOLS = ("prefork", "solo", "threads")


@dataclass(slots=True)
class _Bound:
    jobs: MarketsJobs
    state: AppState
    loop: asyncio.AbstractEventLoop
    pid: int


class ThreadHandlers:
    """A registry of the declared tasks whose handlers are built per worker thread."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.app: Celery | None = None
        self._bound: dict[tuple[int, int], _Bound] = {}
        self._lock = threading.Lock()

    def registry(self) -> TaskRegistry:
        registry = TaskRegistry()
        for declared in DECLARED_TASKS:
            registry.register(bind(declared, self._delegate(declared.name)))
        return registry

    def _delegate(self, name: str) -> Any:
        async def run(ctx: JobContext, payload: Any) -> Any:
            task: Task[Any, Any] = (await self._jobs()).registry.get(name)
            return await task.handler(ctx, payload)

        return run

    async def _jobs(self) -> MarketsJobs:
        key = (os.getpid(), threading.get_ident())
        bound = self._bound.get(key)
        if bound is not None:
            return bound.jobs
        if self.app is None:
            raise ConfigurationError("The worker's Celery app is not set.")
        settings = self.settings
        state = AppState(settings=settings, database=Database.from_settings(settings))
        if settings.redis_url:
            state.redis = connect_redis(settings.redis_url, timeout=settings.redis_timeout)
        dispatcher = celery_dispatcher(self.app, clock=self.clock)
        jobs = MarketsJobs(settings, self.clock, dispatcher=dispatcher)
        jobs.attach(state)
        with self._lock:
            self._bound[key] = _Bound(jobs, state, asyncio.get_running_loop(), key[0])
        return jobs

    def close(self, **_: Any) -> None:
        """Close what this process's threads opened (a Celery shutdown signal's handler)."""
        with self._lock:
            mine = [bound for bound in self._bound.values() if bound.pid == os.getpid()]
            self._bound = {
                key: bound for key, bound in self._bound.items() if bound.pid != os.getpid()
            }
        for bound in mine:
            bound.jobs.detach()
            if bound.loop.is_closed() or bound.loop.is_running():
                continue
            try:
                bound.loop.run_until_complete(_close_state(bound.state))
            except Exception:
                _log.exception("job_handlers_close_failed")


async def _close_state(state: AppState) -> None:
    if state.redis is not None:
        await state.redis.aclose()
    await state.database.dispose()


def run_celery(
    settings: Settings,
    *,
    pool: str = "prefork",
    concurrency: int | None = None,
    clock: Clock | None = None,
) -> int:
    """Run a Celery worker with the relay on the markets jobs until stopped; its exit code."""
    handlers = ThreadHandlers(settings, clock or SystemClock())
    # Connected before the Celery app exists, so these run before tiered closes the loops.
    signals.worker_process_shutdown.connect(handlers.close, weak=False)
    signals.worker_shutdown.connect(handlers.close, weak=False)
    try:
        handlers.app = markets_celery_app(settings, handlers.registry(), clock=handlers.clock)
        return run_celery_worker(handlers.app, pool=pool, concurrency=concurrency, relay=True)
    finally:
        signals.worker_process_shutdown.disconnect(handlers.close)
        signals.worker_shutdown.disconnect(handlers.close)
