"""``markets worker``: the jobs run in a process of their own, on the same settings."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from typer.testing import CliRunner

from markets.cli import app as cli
from markets.config import Settings
from markets.domain.users import User
from markets.jobs.standalone import run_worker
from markets.migrate import upgrade
from markets.repositories.tables import JOB_TABLES
from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.tasks import SEND_WELCOME_EMAIL, WelcomeEmail
from tiered.db import Database
from tiered.jobs import JobStatus, JobStore


async def _welcome_due(url: str, email: str) -> UUID:
    """A user and their welcome job, committed as a server would commit them."""
    database = Database.from_settings(Settings(environment="test", database_url=url))
    try:
        async with MarketsUnitOfWork(database.sessionmaker) as uow:
            user = await uow.users.create(User(uuid4(), email, "Ada"))
            queued = await uow.jobs.enqueue(SEND_WELCOME_EMAIL, WelcomeEmail(user_id=user.id))
        return queued.job_id
    finally:
        await database.dispose()


async def _status(url: str, job_id: UUID) -> JobStatus | None:
    database = Database.from_settings(Settings(environment="test", database_url=url))
    try:
        record = await JobStore(database, JOB_TABLES).get(job_id)
        return None if record is None else record.status
    finally:
        await database.dispose()


@pytest.fixture
def migrated(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    upgrade(sqlite_url)
    monkeypatch.setenv("MARKETS_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("MARKETS_MAIL_DIR", str(tmp_path / "mail"))
    return sqlite_url


def test_once_runs_what_is_due_and_exits(migrated: str, tmp_path: Path) -> None:
    job_id = asyncio.run(_welcome_due(migrated, "ada@example.com"))
    result = CliRunner().invoke(cli, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "ran 1 job try" in result.output
    assert asyncio.run(_status(migrated, job_id)) is JobStatus.SUCCEEDED
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 1
    again = CliRunner().invoke(cli, ["worker", "--once"])
    assert "ran 0 job tries" in again.output


def test_a_backend_it_does_not_run_is_refused(migrated: str) -> None:
    result = CliRunner().invoke(cli, ["worker", "--backend", "rq"])
    assert result.exit_code == 2
    assert "'rq' job backend is not available" in result.output
    assert "inprocess" in result.output


def test_the_help_lists_the_worker() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "worker" in result.output
    assert "--once" in CliRunner().invoke(cli, ["worker", "--help"]).output


async def test_a_running_worker_takes_committed_jobs_until_stopped(
    migrated: str, tmp_path: Path
) -> None:
    settings = Settings(
        environment="test",
        database_url=migrated,
        log_level="WARNING",
        jobs_poll_interval=0.05,
        mail_dir=tmp_path / "mail",
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop))
    job_id = await _welcome_due(migrated, "bo@example.com")  # committed by "another process"
    for _ in range(400):
        if await _status(migrated, job_id) is JobStatus.SUCCEEDED:
            break
        await asyncio.sleep(0.05)
    stop.set()
    assert await asyncio.wait_for(worker, timeout=20) == 0
    assert await _status(migrated, job_id) is JobStatus.SUCCEEDED
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 1
