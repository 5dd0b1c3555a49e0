"""kill -9 a worker process mid-job: another process runs the job again, its effect happens once.

The first worker process runs the real claim loop and is killed with SIGKILL
while the job is in its handler (before or after the handler's database effect
committed). The second process looks at the queue with a clock set past the
first one's lease, as it would once the lease had run out, so nothing waits
for time to pass.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import pytest_asyncio
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select

from tiered.db import Database
from tiered.jobs import JobStatus, JobStore, jobs_tables
from tiered.settings import AppSettings
from tiered.testing import scratch_postgres_database

LEASE_SECONDS = 300

SCHEMA = """
from sqlalchemy import Column, Integer, MetaData, String, Table

metadata = MetaData()
TABLES = jobs_tables(metadata)
effects = Table(
    "kill_test_effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("label", String(100), nullable=False),
)
"""

WORKER = (
    r"""
import asyncio, json, sys
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import insert

from tiered.db import Database
from tiered.jobs import JobContext, JobQueue, JobWorker, TaskRegistry, jobs_tables, run_once
from tiered.settings import AppSettings
from tiered.unit_of_work import UnitOfWork
"""
    + SCHEMA
    + r"""
structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
url, role, kill_point = sys.argv[1:4]
offset, lease = float(sys.argv[4]), float(sys.argv[5])


class ShiftedClock:
    def now(self):
        return datetime.now(UTC) + timedelta(seconds=offset)

    def monotonic(self):
        return 0.0


def emit(**message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


registry = TaskRegistry()


async def main():
    database = Database.from_settings(AppSettings(environment="test", database_url=url))

    @registry.task("ship", max_tries=3)
    async def ship(ctx: JobContext, payload: str) -> str:
        if ctx.attempt == 1 and kill_point == "before-effect":
            emit(event="in-handler")
            await asyncio.Event().wait()
        async with UnitOfWork(database.sessionmaker) as uow:
            await run_once(
                ctx, uow, "ship", lambda: uow.session.execute(insert(effects).values(label=payload))
            )
        if ctx.attempt == 1:
            emit(event="in-handler")
            await asyncio.Event().wait()
        return f"shipped on try {ctx.attempt}"

    if role == "create":
        async with database.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        async with UnitOfWork(database.sessionmaker) as uow:
            enqueued = await JobQueue(TABLES).enqueue(uow, ship, "order-1")
        emit(event="enqueued", job_id=str(enqueued.job_id))
    elif role == "first":
        worker = JobWorker(database, TABLES, registry, lease_seconds=lease, poll_interval=0.05)
        await worker.start()
        await asyncio.Event().wait()
    else:
        worker = JobWorker(database, TABLES, registry, clock=ShiftedClock())
        emit(event="ran", tries=await worker.run_due())
    await database.dispose()


asyncio.run(main())
"""
)

metadata = MetaData()
TABLES = jobs_tables(metadata)
effects = Table(
    "kill_test_effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("label", String(100), nullable=False),
)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
        return
    server: str = request.getfixturevalue("postgres_url")
    async with scratch_postgres_database(server, prefix="tiered_jobs_kill") as database_url:
        yield database_url


class WorkerProcess:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def expect(self, event: str) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 30)
        assert line, f"the worker exited while the test waited for {event!r}"
        message: dict[str, Any] = json.loads(line)
        assert message["event"] == event, message
        return message


@pytest_asyncio.fixture
async def start(tmp_path: Path, url: str) -> AsyncIterator[Any]:
    script = tmp_path / "jobs_worker.py"
    script.write_text(WORKER)
    started: list[asyncio.subprocess.Process] = []

    async def run(role: str, kill_point: str, offset: float = 0.0) -> WorkerProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            url,
            role,
            kill_point,
            str(offset),
            str(LEASE_SECONDS),
            stdout=asyncio.subprocess.PIPE,
            cwd=tmp_path,
        )
        started.append(process)
        return WorkerProcess(process)

    try:
        yield run
    finally:
        for process in started:
            if process.returncode is None:
                process.kill()
                await process.wait()


@pytest.mark.parametrize("kill_point", ["before-effect", "after-effect"])
async def test_a_killed_worker_s_job_runs_again_and_its_effect_happens_once(
    start: Any, url: str, kill_point: str
) -> None:
    creator = await start("create", kill_point)
    job_id = (await creator.expect("enqueued"))["job_id"]
    assert await creator.process.wait() == 0

    first = await start("first", kill_point)
    await first.expect("in-handler")
    first.process.send_signal(signal.SIGKILL)
    assert await first.process.wait() == -signal.SIGKILL

    database = Database.from_settings(AppSettings(environment="test", database_url=url))
    try:
        store = JobStore(database, TABLES)
        record = await store.get(UUID(job_id))
        assert record is not None
        assert (record.status, record.attempts) == (JobStatus.RUNNING, 1)
        expected_before = 1 if kill_point == "after-effect" else 0
        assert await _effects(database) == expected_before

        before_lease = await start("second", kill_point)
        assert (await before_lease.expect("ran"))["tries"] == 0, "the lease still holds"
        second = await start("second", kill_point, offset=LEASE_SECONDS + 1)
        assert (await second.expect("ran"))["tries"] == 1
        assert await second.process.wait() == 0

        record = await store.get(UUID(job_id))
        assert record is not None
        assert (record.status, record.attempts, record.result) == (
            JobStatus.SUCCEEDED,
            2,
            "shipped on try 2",
        )
        assert await _effects(database) == 1
    finally:
        await database.dispose()


async def _effects(database: Database) -> int:
    async with database.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(effects)) or 0)
