"""What the Celery integration tests share: a private broker queue, a database, worker processes.

Each test gets a queue of its own on the shared Redis (db 15, every key under
a prefix of its own) or RabbitMQ, removed afterwards, and a database the
test process and the worker process both use (an SQLite file, or a scratch
PostgreSQL database). Workers are real ``celery`` workers started by
``python -m tests.integration.celery_worker_app``; every one is stopped (or
killed) before the test ends.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from celery import Celery
from kombu import Connection, pools
from redis import Redis
from sqlalchemy import func, select
from tests.integration import celery_worker_app as worker_app

from tiered.db import Database
from tiered.jobs import CeleryDispatcher, CeleryPublisher, JobRecord, JobRef, JobStore
from tiered.settings import AppSettings
from tiered.testing import ChildProcess, scratch_postgres_database, wait_until

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 60.0


@dataclass
class Broker:
    kind: str
    url: str
    queue: str = field(default_factory=lambda: f"tiered-test-{uuid.uuid4().hex[:10]}")

    @property
    def key_prefix(self) -> str | None:
        return f"{self.queue}:" if self.kind == "redis" else None

    def ready_messages(self) -> int:
        """Messages waiting in the queue, not yet delivered to any worker."""
        if self.kind == "redis":
            with Redis.from_url(self.url) as client:
                return int(client.llen(f"{self.key_prefix}{self.queue}"))
        with Connection(self.url) as connection:
            declared = connection.default_channel.queue_declare(self.queue, passive=True)
            return int(declared.message_count)

    def remove(self) -> None:
        if self.kind == "redis":
            with Redis.from_url(self.url) as client:
                keys = list(client.scan_iter(match=f"{self.key_prefix}*", count=500))
                if keys:
                    client.delete(*keys)
            return
        with Connection(self.url) as connection:
            channel = connection.default_channel
            channel.queue_delete(self.queue)
            channel.exchange_delete(self.queue)


@asynccontextmanager
async def database_url(kind: str, tmp_path: Path, server_url: str | None) -> AsyncIterator[str]:
    """An empty database with the test schema, for the test and its workers."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
        await _create_schema(url)
        yield url
        return
    assert server_url is not None
    async with scratch_postgres_database(server_url, prefix="tiered_celery") as url:
        await _create_schema(url)
        yield url


async def _create_schema(url: str) -> None:
    database = Database.from_settings(AppSettings(environment="test", database_url=url))
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(worker_app.metadata.create_all)
    finally:
        await database.dispose()


class RecordingPublisher:
    """A publisher that remembers each job it published, then hands it on (if it can)."""

    def __init__(self, inner: CeleryPublisher | None = None) -> None:
        self.inner = inner
        self.published: list[UUID] = []
        self.first_published = asyncio.Event()

    async def publish(self, job: JobRef, *, countdown: float | None = None) -> None:
        if self.inner is not None:
            await self.inner.publish(job, countdown=countdown)
        self.published.append(job.id)
        self.first_published.set()


@dataclass
class Setup:
    """The test process's side: the same app, tables and database as the worker."""

    broker: Broker
    url: str
    tmp_path: Path
    settings: AppSettings
    app: Celery
    database: Database
    publisher: RecordingPublisher
    dispatcher: CeleryDispatcher
    workers: list[ChildProcess] = field(default_factory=list)

    @property
    def store(self) -> JobStore:
        return JobStore(self.database, worker_app.TABLES)

    async def job(self, job_id: UUID) -> JobRecord:
        record = await self.store.get(job_id)
        assert record is not None
        return record

    async def effects(self, label: str) -> list[int]:
        """The attempts that recorded an effect under ``label``."""
        async with self.database.engine.connect() as connection:
            rows = await connection.scalars(
                select(worker_app.effects.c.attempt)
                .where(worker_app.effects.c.label == label)
                .order_by(worker_app.effects.c.id)
            )
            return list(rows)

    async def count_jobs(self) -> int:
        async with self.database.engine.connect() as connection:
            found = await connection.scalar(
                select(func.count()).select_from(worker_app.TABLES.jobs)
            )
        return int(found or 0)

    def worker_env(self, **overrides: str) -> dict[str, str]:
        env = {
            **os.environ,
            worker_app.DATABASE_URL: self.url,
            worker_app.BROKER_URL: self.broker.url,
            worker_app.QUEUE: self.broker.queue,
            **overrides,
        }
        if self.broker.key_prefix is not None:
            env[worker_app.KEY_PREFIX] = self.broker.key_prefix
        return env

    async def start_worker(
        self, *, pool: str = "solo", relay: bool = False, **env: str
    ) -> ChildProcess:
        arguments = ["-m", "tests.integration.celery_worker_app", "--pool", pool]
        if relay:
            arguments.append("--relay")
        worker = await ChildProcess.start(
            sys.executable,
            *arguments,
            log=self.tmp_path / f"worker-{len(self.workers) + 1}.log",
            cwd=ROOT,
            env=self.worker_env(**env),
        )
        self.workers.append(worker)
        return worker

    async def wait_until(
        self, check: Callable[[], Awaitable[bool]], what: str, within: float = WAIT_SECONDS
    ) -> None:
        """Poll ``check`` until it holds; fail with the workers' logs after ``within`` seconds."""
        await wait_until(check, what, self.workers, within)

    async def wait_for_status(self, job_id: UUID, status: Any) -> JobRecord:
        async def reached() -> bool:
            return (await self.job(job_id)).status is status

        await self.wait_until(reached, f"job {job_id} to be {status}")
        return await self.job(job_id)

    async def close(self) -> None:
        for worker in self.workers:
            await worker.stop()
        await self.database.dispose()
        # Celery's broker connections live in kombu's process-wide pools, keyed by
        # URL: reset them, so the next test's app does not find them closed.
        self.app.close()
        pools.reset()


@asynccontextmanager
async def celery_setup(
    broker: Broker, url: str, tmp_path: Path, **settings: Any
) -> AsyncIterator[Setup]:
    app_settings = AppSettings(
        environment="test",
        log_json=True,
        database_url=url,
        jobs_backend="celery",
        jobs_broker_url=broker.url,
        **settings,
    )
    app = worker_app.build_app(app_settings, queue=broker.queue, key_prefix=broker.key_prefix)
    database = Database.from_settings(app_settings)
    publisher = RecordingPublisher(CeleryPublisher(app))
    dispatcher = CeleryDispatcher(publisher, worker_app.TABLES, database=database)
    setup = Setup(broker, url, tmp_path, app_settings, app, database, publisher, dispatcher)
    try:
        yield setup
    finally:
        await setup.close()
