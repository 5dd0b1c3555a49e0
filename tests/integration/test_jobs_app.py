"""The worker as a lifespan resource of a real app, on SQLite and PostgreSQL.

A route enqueues in its unit of work; the commit wakes the worker; the job's
owner reads its status; a failing request enqueues nothing; shutting the app
down waits for the job in flight before the database closes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import MetaData, func, select

from tiered.app import app_state, create_app
from tiered.db import Database
from tiered.errors import ConflictError, NotFoundError
from tiered.jobs import (
    WORKER_STATE_KEY,
    InProcessDispatcher,
    JobContext,
    JobQueue,
    JobStatus,
    JobStore,
    JobWorker,
    JobWorkerOptions,
    TaskRegistry,
    job_worker_resource,
    jobs_tables,
)
from tiered.settings import AppSettings
from tiered.testing import app_client, scratch_postgres_database
from tiered.unit_of_work import UnitOfWork

SAFETY = 10

metadata = MetaData()
TABLES = jobs_tables(metadata)


class Harness:
    def __init__(self, url: str) -> None:
        self.url = url
        self.registry = TaskRegistry()
        self.dispatcher = InProcessDispatcher()
        self.queue = JobQueue(TABLES, dispatcher=self.dispatcher)
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()

        @self.registry.task("report")
        async def report(ctx: JobContext, payload: str) -> str:
            self.started.set()
            await self.gate.wait()
            return payload.upper()

        self.report = report

    def app(self) -> FastAPI:
        router = APIRouter()

        @router.post("/reports", status_code=202)
        async def create_report(name: str, owner: str, request: Request) -> dict[str, str]:
            async with UnitOfWork(app_state(request).database.sessionmaker) as uow:
                job = await self.queue.enqueue(uow, self.report, name, owner_id=owner)
                if name == "conflict":
                    raise ConflictError("The report conflicts.")
            return {"job_id": str(job.job_id)}

        @router.get("/reports/{job_id}")
        async def read_report(job_id: uuid.UUID, owner: str, request: Request) -> dict[str, Any]:
            record = await JobStore(app_state(request).database, TABLES).get(job_id)
            if record is None or record.owner_id != owner:
                raise NotFoundError("No such job.")
            return {"status": record.status.value, "result": record.result}

        settings = AppSettings(environment="test", database_url=self.url)
        resource = job_worker_resource(
            self.registry,
            TABLES,
            dispatcher=self.dispatcher,
            options=JobWorkerOptions(concurrency=2, poll_interval=3600, shutdown_grace=SAFETY),
        )
        return create_app(settings, routers=[router], resources=[resource])

    async def count_jobs(self) -> int:
        database = Database.from_settings(AppSettings(environment="test", database_url=self.url))
        try:
            async with database.engine.connect() as connection:
                found = await connection.scalar(select(func.count()).select_from(TABLES.jobs))
            return int(found or 0)
        finally:
            await database.dispose()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def harness(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Harness]:
    async def prepared(url: str) -> Harness:
        database = Database.from_settings(AppSettings(environment="test", database_url=url))
        try:
            async with database.engine.begin() as connection:
                await connection.run_sync(metadata.create_all)
        finally:
            await database.dispose()
        return Harness(url)

    if backend == "sqlite":
        yield await prepared(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
        return
    server: str = request.getfixturevalue("postgres_url")
    async with scratch_postgres_database(server, prefix="tiered_jobs_app") as url:
        yield await prepared(url)


async def wait_for_status(client: httpx.AsyncClient, job_id: str, status: str) -> dict[str, Any]:
    async with asyncio.timeout(SAFETY):
        while True:
            body: dict[str, Any] = (
                await client.get(f"/reports/{job_id}", params={"owner": "ada"})
            ).json()
            if body.get("status") == status:
                return body
            await asyncio.sleep(0.01)


async def test_a_request_enqueues_and_the_worker_runs_it(harness: Harness) -> None:
    async with app_client(harness.app()) as client:
        response = await client.post("/reports", params={"name": "sales", "owner": "ada"})
        assert response.status_code == 202
        job_id = response.json()["job_id"]
        body = await wait_for_status(client, job_id, JobStatus.SUCCEEDED.value)
        assert body["result"] == "SALES"

        other = await client.get(f"/reports/{job_id}", params={"owner": "bob"})
        assert other.status_code == 404
        ready = (await client.get("/health/ready")).json()
        assert ready["checks"]["jobs"] == "ok"


async def test_a_failed_request_enqueues_nothing(harness: Harness) -> None:
    async with app_client(harness.app()) as client:
        response = await client.post("/reports", params={"name": "conflict", "owner": "ada"})
        assert response.status_code == 409
    assert await harness.count_jobs() == 0


async def test_stopping_the_app_drains_the_job_in_flight(harness: Harness) -> None:
    harness.gate.clear()
    app = harness.app()
    leave = asyncio.Event()
    stopping = asyncio.Event()
    job_ids: list[uuid.UUID] = []

    async def serve() -> None:
        async with app_client(app) as client:
            response = await client.post("/reports", params={"name": "late", "owner": "ada"})
            job_ids.append(uuid.UUID(response.json()["job_id"]))
            await leave.wait()

    server = asyncio.create_task(serve())
    await asyncio.wait_for(harness.started.wait(), SAFETY)
    worker = app.state.tiered.extras[WORKER_STATE_KEY]
    assert isinstance(worker, JobWorker)
    stop = worker.stop

    async def observed_stop(grace: float) -> None:
        stopping.set()
        await stop(grace)

    worker.stop = observed_stop  # type: ignore[method-assign]
    leave.set()
    await asyncio.wait_for(stopping.wait(), SAFETY)
    assert worker.stopping
    assert worker.running == 1
    assert not server.done()
    harness.gate.set()
    await asyncio.wait_for(server, SAFETY)

    assert WORKER_STATE_KEY not in app.state.tiered.extras
    database = Database.from_settings(AppSettings(environment="test", database_url=harness.url))
    try:
        record = await JobStore(database, TABLES).get(job_ids[0])
    finally:
        await database.dispose()
    assert record is not None
    assert (record.status, record.result) == (JobStatus.SUCCEEDED, "LATE")
