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
import signal
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
from tiered.testing import scratch_postgres_database

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
    workers: list[WorkerProcess] = field(default_factory=list)

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
    ) -> WorkerProcess:
        log = self.tmp_path / f"worker-{len(self.workers) + 1}.log"
        arguments = ["-m", "tests.integration.celery_worker_app", "--pool", pool]
        if relay:
            arguments.append("--relay")
        with log.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                *arguments,
                cwd=ROOT,
                env=self.worker_env(**env),
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        worker = WorkerProcess(process, log)
        self.workers.append(worker)
        return worker

    async def wait_until(
        self, check: Callable[[], Awaitable[bool]], what: str, within: float = WAIT_SECONDS
    ) -> None:
        """Poll ``check`` until it holds; fail with the workers' logs after ``within`` seconds."""
        try:
            async with asyncio.timeout(within):
                while not await check():
                    for worker in self.workers:
                        worker.assert_alive()
                    await asyncio.sleep(0.1)
        except TimeoutError:
            logs = "\n".join(worker.tail() for worker in self.workers)
            raise AssertionError(f"timed out waiting for {what}\n{logs}") from None

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


class WorkerProcess:
    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log
        self.expected_exit = False

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.log.name} ---\n" + "\n".join(text.splitlines()[-lines:])

    def assert_alive(self) -> None:
        if self.process.returncode is not None and not self.expected_exit:
            raise AssertionError(f"a worker exited ({self.process.returncode})\n{self.tail()}")

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no acknowledgement, connections dropped by the kernel."""
        self.expected_exit = True
        os.killpg(self.process.pid, signal.SIGKILL)
        assert await self.process.wait() == -signal.SIGKILL

    async def stop(self, within: float = 20.0) -> None:
        if self.process.returncode is not None:
            return
        self.expected_exit = True
        self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(within):
                await self.process.wait()
        except TimeoutError:
            os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()


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
