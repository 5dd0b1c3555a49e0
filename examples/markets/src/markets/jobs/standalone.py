"""``markets worker``: the jobs of the service, run in a process of their own.

The same handlers and the same worker as in a ``markets serve`` process, on
the same settings; run it beside servers started with
``MARKETS_JOBS_IN_PROCESS=false``, as many as the load needs (on PostgreSQL
workers claim with ``SKIP LOCKED`` and never wait for one another).
SIGINT or SIGTERM stops it gracefully: no new claims, running jobs get
``jobs_shutdown_grace`` seconds, the rest go back to the queue unspent.
This is the ``inprocess`` backend; ``celery`` runs a Celery worker instead.
"""

from __future__ import annotations

import asyncio
import signal
from contextlib import AsyncExitStack

from markets.config import Settings
from markets.jobs.runtime import MarketsJobs
from tiered.app import AppState
from tiered.clock import Clock, SystemClock
from tiered.db import Database
from tiered.observability import configure_logging
from tiered.redis_connection import connect_redis

__all__ = ["BACKENDS", "run_worker"]

BACKENDS = ("inprocess", "celery")
"""Job backends ``markets worker`` runs: the database's jobs table polled by this process,
or the messages of a Celery broker (:mod:`markets.jobs.celery_worker`)."""


async def run_worker(
    settings: Settings,
    *,
    once: bool = False,
    stop: asyncio.Event | None = None,
    clock: Clock | None = None,
) -> int:
    """Run jobs until ``stop`` is set (or a signal arrives); with ``once``, run what is
    due now and return how many tries ran."""
    configure_logging(level=settings.log_level, json=settings.logs_as_json)
    jobs = MarketsJobs(settings, clock or SystemClock())
    async with AsyncExitStack() as stack:
        database = Database.from_settings(settings)
        stack.push_async_callback(database.dispose)
        state = AppState(settings=settings, database=database)
        if settings.redis_url:
            redis = connect_redis(settings.redis_url, timeout=settings.redis_timeout)
            stack.push_async_callback(redis.aclose)
            state.redis = redis
        await stack.enter_async_context(jobs.resource(run_worker=not once)(state))
        if once:
            return await jobs.worker().run_due()
        stopping = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
            stack.callback(loop.remove_signal_handler, signum)
        await stopping.wait()
    return 0
