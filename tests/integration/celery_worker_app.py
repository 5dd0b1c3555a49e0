"""The jobs, tables and Celery worker that the Celery integration tests run in a subprocess.

The test process imports this module for the tables and tasks it enqueues;
``python -m tests.integration.celery_worker_app`` starts a real Celery worker
(through ``run_celery_worker``) configured by ``CELERY_TEST_*`` variables, so
the worker and the test share one database and one broker queue. The worker
can run on a clock shifted into the future, which is how a test makes the
lease of a killed worker's job expire without waiting for it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import UTC, datetime, timedelta

from celery import Celery
from pydantic import BaseModel
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from tiered.db import Database
from tiered.jobs import (
    Backoff,
    JobContext,
    TaskRegistry,
    celery_app,
    jobs_tables,
    run_celery_worker,
    run_once,
)
from tiered.settings import AppSettings
from tiered.unit_of_work import UnitOfWork

DATABASE_URL = "CELERY_TEST_DATABASE_URL"
BROKER_URL = "CELERY_TEST_BROKER_URL"
QUEUE = "CELERY_TEST_QUEUE"
KEY_PREFIX = "CELERY_TEST_KEY_PREFIX"
CLOCK_OFFSET = "CELERY_TEST_CLOCK_OFFSET"
LEASE_SECONDS = "CELERY_TEST_LEASE_SECONDS"
VISIBILITY_TIMEOUT = "CELERY_TEST_VISIBILITY_TIMEOUT"

metadata = MetaData()
TABLES = jobs_tables(metadata)
effects = Table(
    "celery_test_effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("label", String(100), nullable=False),
    Column("attempt", Integer, nullable=False),
)
switches = Table(
    "celery_test_switches",
    metadata,
    Column("name", String(100), primary_key=True),
)

registry = TaskRegistry()
_databases: dict[int, Database] = {}


def settings_from_environment() -> AppSettings:
    return AppSettings(
        environment="test",
        log_json=True,
        database_url=os.environ[DATABASE_URL],
        jobs_backend="celery",
        jobs_broker_url=os.environ[BROKER_URL],
        jobs_lease_seconds=float(os.environ.get(LEASE_SECONDS, "60")),
        jobs_broker_visibility_timeout=float(os.environ.get(VISIBILITY_TIMEOUT, "3600")),
    )


def database() -> Database:
    """This process's database (a prefork child makes its own)."""
    pid = os.getpid()
    if pid not in _databases:
        _databases[pid] = Database.from_settings(settings_from_environment())
    return _databases[pid]


class Shipment(BaseModel):
    label: str
    hang: str = "never"
    """`before-effect` or `after-effect`: the first try signals, then hangs there."""


async def _signal_hanging(ctx: JobContext) -> None:
    await ctx.report_progress(1, 2)
    await asyncio.Event().wait()


@registry.task("ship", max_tries=3)
async def ship(ctx: JobContext, payload: Shipment) -> str:
    if ctx.attempt == 1 and payload.hang == "before-effect":
        await _signal_hanging(ctx)
    async with UnitOfWork(database().sessionmaker) as uow:
        await run_once(
            ctx,
            uow,
            "ship",
            lambda: uow.session.execute(
                insert(effects).values(label=payload.label, attempt=ctx.attempt)
            ),
        )
    if ctx.attempt == 1 and payload.hang == "after-effect":
        await _signal_hanging(ctx)
    return f"shipped {payload.label} on try {ctx.attempt}"


@registry.task("flaky", max_tries=3, backoff=Backoff(base=0.2, factor=1, cap=0.2, jitter=False))
async def flaky(ctx: JobContext, payload: str) -> str:
    """Fails until the test turns the ``fixed`` switch on."""
    async with UnitOfWork(database().sessionmaker) as uow:
        await uow.session.execute(insert(effects).values(label=payload, attempt=ctx.attempt))
    async with UnitOfWork(database().sessionmaker).read_only() as uow:
        fixed = await uow.session.scalar(select(switches.c.name).where(switches.c.name == "fixed"))
    if fixed is None:
        raise ConnectionError("the upstream is down")
    return f"{payload} on try {ctx.attempt}"


class ShiftedClock:
    """The system clock, ``offset`` seconds ahead."""

    def __init__(self, offset: float) -> None:
        self.offset = timedelta(seconds=offset)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def monotonic(self) -> float:
        return self.offset.total_seconds()


def build_app(settings: AppSettings, *, queue: str, key_prefix: str | None = None) -> Celery:
    offset = float(os.environ.get(CLOCK_OFFSET, "0"))
    app = celery_app(
        settings, registry, TABLES, queue=queue, clock=ShiftedClock(offset) if offset else None
    )
    app.conf.worker_enable_remote_control = False
    if key_prefix is not None:
        options = dict(app.conf.broker_transport_options or {})
        options.update(
            global_keyprefix=key_prefix, unacked_restore_interval=1, unacked_restore_throttle=1
        )
        app.conf.broker_transport_options = options
    return app


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", default="solo")
    parser.add_argument("--relay", action="store_true")
    args = parser.parse_args()
    app = build_app(
        settings_from_environment(),
        queue=os.environ[QUEUE],
        key_prefix=os.environ.get(KEY_PREFIX),
    )
    return run_celery_worker(
        app,
        pool=args.pool,
        concurrency=1,
        relay=args.relay,
        loglevel="INFO",
        without_heartbeat=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
