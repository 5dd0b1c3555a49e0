"""The welcome email: enqueued with the sign-up, written once by the console backend.

``markets_app`` runs no worker in the background: ``run_jobs`` runs what is
due, with the app's frozen clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from markets.config import Settings
from markets.main import create_app
from markets.repositories.tables import JOB_TABLES
from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.auth import AuthService
from markets.services.tasks import SEND_WELCOME_EMAIL, WelcomeEmail
from tiered.clock import FrozenClock
from tiered.db import Database
from tiered.jobs import Enqueued, JobContext, JobStatus, SupportsAfterCommit, Task
from tiered.security import PasswordHasher
from tiered.testing import app_client

from ..conftest import PASSWORD, Accounts, jobs_of

RunJobs = Callable[[], Awaitable[int]]


async def job_rows(database: Database) -> list[dict[str, Any]]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(select(JOB_TABLES.jobs))
        return [dict(row) for row in rows.mappings()]


def mails(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.eml")) if directory.exists() else []


async def test_a_committed_sign_up_sends_one_welcome_email(
    accounts: Accounts, run_jobs: RunJobs, tmp_path: Path, database: Database
) -> None:
    user = await accounts.register("ada@example.com")
    assert mails(tmp_path / "mail") == [], "nothing is sent before the job runs"
    assert await run_jobs() == 1
    assert await run_jobs() == 0
    [written] = mails(tmp_path / "mail")
    message = message_from_bytes(written.read_bytes())
    assert (message["To"], message["Subject"]) == ("Ada <ada@example.com>", "Welcome to markets")
    [job] = await job_rows(database)
    assert (job["status"], job["dedup_key"], job["payload"]) == (
        JobStatus.SUCCEEDED.value,
        f"welcome:{user['id']}",
        {"user_id": user["id"]},
    )
    assert job["result"] == {"channel": "email", "status": "delivered", "detail": None}


async def test_a_welcome_job_run_again_after_a_crash_sends_nothing_more(
    *,
    accounts: Accounts,
    markets_app: FastAPI,
    run_jobs: RunJobs,
    clock: FrozenClock,
    tmp_path: Path,
    database: Database,
) -> None:
    """A worker sends the email and dies before marking the job done; the next try skips it."""
    await accounts.register("bo@example.com")
    jobs = jobs_of(markets_app)
    store = jobs.store()
    [claimed] = await store.claim("doomed-worker", limit=1, lease=60)
    task = jobs.registry.get(claimed.task)
    await task.handler(JobContext(claimed, store, clock), task.load_payload(claimed.payload))
    assert len(mails(tmp_path / "mail")) == 1

    clock.advance(61)  # its lease runs out
    assert await run_jobs() == 1
    [job] = await job_rows(database)
    assert (job["status"], job["attempts"]) == (JobStatus.SUCCEEDED.value, 2)
    assert job["result"]["detail"] == "sent by an earlier attempt"
    assert len(mails(tmp_path / "mail")) == 1


class FailsAfterEnqueueing:
    """Writes the job row, then the transaction fails (the connection drops, say)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def enqueue(
        self, uow: SupportsAfterCommit, task: Task[Any, Any], payload: Any, **options: Any
    ) -> Enqueued:
        await self.inner.enqueue(uow, task, payload, **options)
        raise ConnectionResetError("the database went away")


async def test_a_sign_up_rolled_back_after_its_job_was_written_sends_nothing(
    *,
    markets_app: FastAPI,
    api: httpx.AsyncClient,
    run_jobs: RunJobs,
    clock: FrozenClock,
    password_hasher: PasswordHasher,
    tmp_path: Path,
    database: Database,
) -> None:
    jobs = jobs_of(markets_app)
    failing = MarketsUnitOfWork(database.sessionmaker, jobs=FailsAfterEnqueueing(jobs.queue))
    kit = markets_app.state.tiered.extras["markets.security"]
    service = AuthService(failing, password_hasher, kit.issuer, clock)
    try:
        await service.register("cy@example.com", PASSWORD, "Cy")
    except ConnectionResetError:
        pass
    else:
        raise AssertionError("the sign-up should have failed")
    async with jobs.unit_of_work() as uow:
        await uow.jobs.enqueue(SEND_WELCOME_EMAIL, WelcomeEmail(user_id=uuid4()))
        await uow.session.rollback()  # and a use case that rolls back on its own

    assert await job_rows(database) == []
    assert await run_jobs() == 0
    assert mails(tmp_path / "mail") == []
    signed_in = await api.post(
        "/api/v1/auth/token", data={"username": "cy@example.com", "password": PASSWORD}
    )
    assert signed_in.status_code == 401, "the account was rolled back with its job"


class SignallingMailer:
    """Records each message and says when one arrived."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.arrived = asyncio.Event()

    async def send(self, message: EmailMessage) -> None:
        self.sent.append(message)
        self.arrived.set()


async def test_the_in_process_worker_runs_jobs_as_they_commit(
    database_url: str, database: Database, clock: FrozenClock, password_hasher: PasswordHasher
) -> None:
    """The worker the app starts with its lifespan: a commit wakes it, no test drives it."""
    settings = Settings(environment="test", database_url=database_url, log_level="WARNING")
    mailer = SignallingMailer()
    app = create_app(settings, clock=clock, password_hasher=password_hasher, mailer=mailer)
    async with app_client(app) as client:
        ready = await client.get("/health/ready")
        assert ready.json()["checks"]["jobs"] == "ok"
        body = {"email": "di@example.com", "password": PASSWORD, "display_name": "Di"}
        assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
        await asyncio.wait_for(mailer.arrived.wait(), timeout=20)
    # Stopping the app drained the worker: the job it was finishing is recorded.
    [job] = await job_rows(database)
    assert (job["status"], job["lease_owner"]) == (JobStatus.SUCCEEDED.value, None)
    assert [str(message["To"]) for message in mailer.sent] == ["Di <di@example.com>"]
