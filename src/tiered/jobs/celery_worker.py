"""Starting a Celery worker for tiered jobs, with the relay beside it.

``run_celery_worker(app)`` is what a service's ``worker`` command calls: it
starts Celery's own worker on the app's jobs queue and, unless told not to,
a :class:`JobRelay` in a thread of the worker's main process. The relay has
its own event loop and database connections, and it starts only once the
worker is ready, after the pool has forked its children. A deployment can
instead run the relay in the web process (``job_relay_resource``); two relays
at once are fine, they never publish one job twice.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from celery import Celery, signals

from tiered.clock import Clock
from tiered.db import Database
from tiered.jobs.celery_app import job_executor
from tiered.jobs.relay import JobPublisher, JobRelay, JobRelayOptions
from tiered.jobs.tables import JobTables
from tiered.observability.logging import configure_logging, get_logger
from tiered.settings import AppSettings

__all__ = ["RelayThread", "run_celery_worker"]

_log = get_logger("tiered.jobs")

RELAY_STOP_TIMEOUT = 10.0


class RelayThread:
    """A :class:`JobRelay` on an event loop and database of its own, in a daemon thread."""

    def __init__(
        self,
        settings: AppSettings,
        tables: JobTables,
        publisher: JobPublisher,
        *,
        options: JobRelayOptions | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.tables = tables
        self.publisher = publisher
        self.options = options or JobRelayOptions.from_settings(settings)
        self.clock = clock
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._main, name="tiered-jobs-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = RELAY_STOP_TIMEOUT) -> None:
        """Let the relay finish its round, close its connections, and wait for the thread."""
        thread = self._thread
        if thread is None:
            return
        self._ready.wait(timeout)
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        self._thread = None

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception:
            _log.exception("job_relay_thread_failed")
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        database = Database.from_settings(self.settings)
        relay = JobRelay(
            database, self.tables, self.publisher, options=self.options, clock=self.clock
        )
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            await relay.start()
            self._ready.set()
            await self._stop.wait()
            await relay.stop()
        finally:
            self._ready.set()
            await database.dispose()


def run_celery_worker(
    app: Celery,
    *,
    pool: str = "prefork",
    concurrency: int | None = None,
    relay: bool = True,
    loglevel: str | None = None,
    hostname: str | None = None,
    **worker_options: Any,
) -> int:
    """Run a Celery worker on ``app``'s jobs queue until it is stopped; its exit code.

    ``app`` comes from :func:`~tiered.jobs.celery_app`. ``concurrency``
    defaults to ``jobs_concurrency``; ``pool`` is ``prefork`` (a process per
    slot) or ``solo`` (one job at a time in this process); ``threads`` works
    too. Other keywords go to Celery's ``WorkController`` as the ``celery
    worker`` command would pass them. Gossip and mingle are off: the jobs
    backend does not use Celery's revokes or events. Celery logs through
    tiered's logging (``log_level``, JSON unless in dev), like the web process.
    """
    executor = job_executor(app)
    settings = executor.settings
    level = loglevel or settings.log_level
    configure_logging(level=level, json=settings.logs_as_json)
    app.conf.update(worker_hijack_root_logger=False, worker_redirect_stdouts=False)
    relay_thread = (
        RelayThread(settings, executor.tables, executor.publisher, clock=executor.clock)
        if relay
        else None
    )

    def start_relay(sender: Any = None, **_: Any) -> None:
        if relay_thread is not None and getattr(sender, "app", None) is app:
            relay_thread.start()

    signals.worker_ready.connect(start_relay, weak=False)
    worker_options.setdefault("without_gossip", True)
    worker_options.setdefault("without_mingle", True)
    worker = app.Worker(
        hostname=hostname,
        pool_cls=pool,
        concurrency=concurrency or settings.jobs_concurrency,
        loglevel=level,
        queues=[app.conf.task_default_queue],
        **worker_options,
    )
    try:
        worker.start()
    finally:
        signals.worker_ready.disconnect(start_relay)
        if relay_thread is not None:
            relay_thread.stop()
    return int(getattr(worker, "exitcode", 0) or 0)
