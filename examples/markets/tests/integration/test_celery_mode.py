"""Distributed mode: the app publishes jobs to a real broker, ``markets worker`` runs them.

The app runs in the test process on a fresh PostgreSQL database with
``jobs_backend=celery``; real ``markets worker --backend celery`` processes
(a prefork pool of one, the relay beside it) consume a private queue on
Redis (db 15, keys under a prefix of their own) or on RabbitMQ. A worker
killed with SIGKILL in the middle of a CSV import leaves its job running
under a lease of two seconds; the restarted worker's relay publishes it
again once that lease has expired, and the import continues after its last
committed batch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from typer.testing import CliRunner

from markets.cli import app as cli
from markets.config import Settings
from markets.main import create_app
from tiered.db import Database
from tiered.security import PasswordHasher
from tiered.testing import ChildProcess

from ..celery_workers import Broker, start_markets_worker, wait_until
from ..conftest import Accounts

IMPORT = "/api/v1/markets/import"
KILLED_LEASE_SECONDS = "2"


@pytest.fixture(
    params=[
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("rabbitmq", marks=pytest.mark.rabbitmq),
    ]
)
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    kind: str = request.param
    chosen = Broker(kind, request.getfixturevalue("redis_url" if kind == "redis" else "amqp_url"))
    yield chosen
    chosen.remove()


@pytest.fixture
def database_url(fresh_postgres_url: str) -> str:
    return fresh_postgres_url


@pytest.fixture
def markets_settings(
    database_url: str, database: Database, tmp_path: Path, broker: Broker
) -> Settings:
    del database  # migrated by the fixture
    return Settings(
        environment="test",
        database_url=database_url,
        log_level="WARNING",
        mail_dir=tmp_path / "mail",
        jobs_backend="celery",
        jobs_broker_url=broker.url,
        jobs_queue=broker.queue,
        jobs_broker_key_prefix=broker.key_prefix,
    )


@pytest.fixture
def markets_app(markets_settings: Settings, password_hasher: PasswordHasher) -> FastAPI:
    """On the system clock, which the workers share: jobs are due when the app says so."""
    return create_app(markets_settings, password_hasher=password_hasher)


@pytest.fixture
async def workers(
    tmp_path: Path, broker: Broker, database_url: str
) -> AsyncIterator[Callable[..., Awaitable[ChildProcess]]]:
    started: list[ChildProcess] = []

    async def start(**environment: str) -> ChildProcess:
        env = {
            **broker.environment(),
            "MARKETS_DATABASE_URL": database_url,
            "MARKETS_MAIL_DIR": str(tmp_path / "mail"),
            "MARKETS_LOG_LEVEL": "INFO",
            **environment,
        }
        worker = await start_markets_worker(tmp_path, env, f"worker-{len(started) + 1}")
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            await worker.stop()


async def read_job(api: httpx.AsyncClient, href: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await api.get(href, headers=headers)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()["data"]
    return job


async def imported(database: Database, creator_id: str) -> tuple[int, int]:
    """The creator's markets, and how many distinct names they have."""
    async with database.engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT count(*), count(DISTINCT name) FROM markets WHERE creator_id = :id"),
                {"id": creator_id},
            )
        ).one()
    return int(row[0]), int(row[1])


@pytest.mark.postgres
async def test_jobs_go_through_the_broker_to_a_markets_worker(
    api: httpx.AsyncClient,
    accounts: Accounts,
    workers: Callable[..., Awaitable[ChildProcess]],
    database: Database,
    tmp_path: Path,
) -> None:
    worker = await workers()
    alice = await accounts.signed_in("alice@example.com")
    mail = tmp_path / "mail"

    async def welcomed() -> bool:
        return mail.is_dir() and any(mail.glob("*.eml"))

    await wait_until(welcomed, "the welcome email", [worker])

    content = "name,description,status\n" + "".join(
        f"Rain on day {day}?,,active\n" for day in range(1, 8)
    )
    accepted = await api.post(
        IMPORT, files={"file": ("rain.csv", content.encode(), "text/csv")}, headers=alice
    )
    assert accepted.status_code == 202, accepted.text
    href = accepted.json()["data"]["href"]

    async def finished() -> bool:
        return (await read_job(api, href, alice))["status"] in {"succeeded", "dead"}

    await wait_until(finished, "the import", [worker])
    done = await read_job(api, href, alice)
    assert (done["status"], done["attempts"], done["error"]) == ("succeeded", 1, None)
    assert (done["result"]["created"], done["result"]["rejected"]) == (7, 0)
    assert done["progress"] == {"done": 7, "total": 7, "fraction": 1.0}
    me = (await api.get("/api/v1/me", headers=alice)).json()["data"]["id"]
    assert await imported(database, me) == (7, 7)

    assert await worker.stop() == 0
    emails = list(mail.glob("*.eml"))
    assert len(emails) == 1
    assert "alice@example.com" in emails[0].read_text()


@pytest.mark.postgres
async def test_a_worker_killed_mid_import_is_replaced_and_every_row_exists_once(
    api: httpx.AsyncClient,
    accounts: Accounts,
    workers: Callable[..., Awaitable[ChildProcess]],
    database: Database,
) -> None:
    slow = {"MARKETS_IMPORT_BATCH_SIZE": "1", "MARKETS_JOBS_LEASE_SECONDS": KILLED_LEASE_SECONDS}
    first = await workers(**slow)
    alice = await accounts.signed_in("alice@example.com")
    me = (await api.get("/api/v1/me", headers=alice)).json()["data"]["id"]
    rows = 2000
    content = "name,description,status\n" + "".join(f"Market {n},,active\n" for n in range(rows))
    accepted = await api.post(
        IMPORT, files={"file": ("big.csv", content.encode(), "text/csv")}, headers=alice
    )
    assert accepted.status_code == 202, accepted.text
    href = accepted.json()["data"]["href"]

    async def under_way() -> bool:
        job = await read_job(api, href, alice)
        assert job["status"] != "succeeded", "the import finished before the worker was killed"
        return job["status"] == "running" and (job["progress"] or {}).get("done", 0) >= 20

    await wait_until(under_way, "the import to be under way", [first])
    await first.kill()
    halfway = await read_job(api, href, alice)
    assert halfway["status"] == "running"
    assert 20 <= halfway["progress"]["done"] < rows
    assert (await imported(database, me))[0] == halfway["progress"]["done"]

    second = await workers(**slow)

    async def finished() -> bool:
        return (await read_job(api, href, alice))["status"] in {"succeeded", "dead"}

    await wait_until(finished, "the import to finish after the restart", [second])
    done = await read_job(api, href, alice)
    assert (done["status"], done["attempts"], done["error"]) == ("succeeded", 2, None)
    assert done["result"]["created"] == rows
    assert await imported(database, me) == (rows, rows)
    assert await second.stop() == 0


def test_the_celery_worker_needs_a_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MARKETS_REDIS_URL", raising=False)
    monkeypatch.delenv("MARKETS_JOBS_BROKER_URL", raising=False)
    result = CliRunner().invoke(cli, ["worker", "--backend", "celery"])
    assert result.exit_code == 2
    assert "needs MARKETS_JOBS_BROKER_URL or MARKETS_REDIS_URL" in result.output


@pytest.mark.parametrize(
    ("arguments", "refusal"),
    [
        (["--once"], "--once runs the inprocess backend only"),
        (["--pool", "gevent"], "the 'gevent' pool is unknown"),
    ],
)
def test_the_celery_worker_refuses_what_it_cannot_do(
    monkeypatch: pytest.MonkeyPatch, arguments: list[str], refusal: str
) -> None:
    monkeypatch.setenv("MARKETS_JOBS_BACKEND", "celery")
    monkeypatch.setenv("MARKETS_JOBS_BROKER_URL", "redis://127.0.0.1:1/15")
    result = CliRunner().invoke(cli, ["worker", *arguments])
    assert result.exit_code == 2
    assert refusal in result.output


def test_the_worker_help_names_the_celery_backend() -> None:
    result = CliRunner().invoke(cli, ["worker", "--help"])
    assert result.exit_code == 0
    assert "celery" in result.output
    assert "--pool" in result.output
