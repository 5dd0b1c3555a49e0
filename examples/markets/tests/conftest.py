"""Fixtures of the markets tests: both databases, a fresh one per test.

The suite runs in ``MARKETS_ENVIRONMENT=test`` (the default, ``production``,
refuses the development secrets); set before any settings are built, and
inherited by the ``markets`` processes the end-to-end tests start. Emails
that apps built by tests send land in a temporary directory, never in the
working tree.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from markets.config import Settings
from markets.domain.users import Actor, Role, User
from markets.jobs import JOBS, MarketsJobs
from markets.main import create_app
from markets.migrate import upgrade
from markets.repositories.unit_of_work import MarketsUnitOfWork
from tiered.clock import FrozenClock
from tiered.db import Database
from tiered.repository import Filter
from tiered.security import Argon2PasswordHasher, PasswordHasher
from tiered.testing import app_client, scratch_postgres_database

os.environ["MARKETS_ENVIRONMENT"] = "test"


@pytest.fixture(scope="session", autouse=True)
def mail_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the console mail backend of every app (and ``markets`` process) writes."""
    directory = tmp_path_factory.mktemp("mail")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MARKETS_MAIL_DIR", str(directory))
        yield directory


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'markets.db'}"


@pytest.fixture
async def fresh_postgres_url(postgres_url: str) -> AsyncIterator[str]:
    """A database of its own, dropped afterwards: migrations start from nothing."""
    async with scratch_postgres_database(postgres_url, "markets_test") as url:
        yield url


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    if request.param == "sqlite":
        return sqlite_url
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated database (SQLite file or a fresh PostgreSQL database)."""
    await asyncio.to_thread(upgrade, database_url)
    database = Database.from_settings(Settings(environment="test", database_url=database_url))
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def new_uow(database: Database) -> Callable[[], MarketsUnitOfWork]:
    return lambda: MarketsUnitOfWork(database.sessionmaker)


@pytest.fixture
async def people(new_uow: Callable[[], MarketsUnitOfWork]) -> dict[str, Actor]:
    """alice and bob (users) and mona (moderator), stored."""
    actors = {}
    async with new_uow() as uow:
        for name, role in (("alice", Role.USER), ("bob", Role.USER), ("mona", Role.MODERATOR)):
            user = await uow.users.create(
                User(uuid.uuid4(), f"{name}@example.com", name.title(), role=role)
            )
            actors[name] = Actor(user.id, role)
    return actors


# -- authentication ----------------------------------------------------------------------

PASSWORD = "tram line to the harbour"
"""A password every account the helpers below create has, unless told otherwise."""


@pytest.fixture
def password_hasher() -> Iterator[Argon2PasswordHasher]:
    """argon2id with test parameters: the real code path, in microseconds."""
    hasher = Argon2PasswordHasher(
        memory_cost=8, time_cost=1, parallelism=1, allow_weak_for_tests=True
    )
    yield hasher
    hasher.close()


@pytest.fixture
def markets_settings(database_url: str, database: Database, tmp_path: Path) -> Settings:
    """The settings of ``markets_app``; a module overrides this fixture to change them.

    Jobs wait for the test: no worker runs in the background, and ``run_jobs``
    runs what is due, so every job a test sees run ran when the test said so.
    Emails are written under ``tmp_path/mail``.
    """
    del database  # migrated by the fixture
    return Settings(
        environment="test",
        database_url=database_url,
        log_level="WARNING",
        jobs_in_process=False,
        mail_dir=tmp_path / "mail",
    )


@pytest.fixture
def markets_app(
    markets_settings: Settings, clock: FrozenClock, password_hasher: PasswordHasher
) -> FastAPI:
    """The app on a migrated database, with a frozen clock."""
    return create_app(markets_settings, clock=clock, password_hasher=password_hasher)


@pytest.fixture
async def api(markets_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app over HTTP (``markets_app``), started and stopped around the test."""
    async with app_client(markets_app) as client:
        yield client


def jobs_of(app: FastAPI) -> MarketsJobs:
    """The jobs of a started app."""
    jobs = app.state.tiered.extras[JOBS]
    assert isinstance(jobs, MarketsJobs)
    return jobs


@pytest.fixture
def run_jobs(markets_app: FastAPI, api: httpx.AsyncClient) -> Callable[[], Awaitable[int]]:
    """Run every job of ``markets_app`` that is due now; how many tries ran."""
    del api  # started

    async def run() -> int:
        return await jobs_of(markets_app).worker().run_due()

    return run


class Accounts:
    """Signs people up and in over HTTP, and promotes them straight in the database."""

    def __init__(self, api: httpx.AsyncClient, new_uow: Callable[[], MarketsUnitOfWork]) -> None:
        self.api, self.new_uow = api, new_uow

    async def register(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        name = email.split("@")[0].title()
        body = {"email": email, "password": password, "display_name": name}
        response = await self.api.post("/api/v1/auth/register", json=body)
        assert response.status_code == 201, response.text
        user: dict[str, Any] = response.json()["data"]
        return user

    async def log_in(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        response = await self.api.post(
            "/api/v1/auth/token", data={"username": email, "password": password}
        )
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    async def signed_in(
        self, email: str, role: Role = Role.USER, password: str = PASSWORD
    ) -> dict[str, str]:
        """Authorization headers of a new account holding ``role``."""
        user = await self.register(email, password)
        if role is not Role.USER:
            async with self.new_uow() as uow:
                await uow.users.update_where(
                    [Filter.eq("id", uuid.UUID(user["id"]))], {"role": role}
                )
        tokens = await self.log_in(email, password)
        return {"Authorization": f"Bearer {tokens['access_token']}"}

    async def api_key(self, headers: dict[str, str], scopes: list[str]) -> str:
        body = {"name": "test key", "scopes": scopes}
        response = await self.api.post("/api/v1/me/api-keys", json=body, headers=headers)
        assert response.status_code == 201, response.text
        key: str = response.json()["data"]["key"]
        return key


@pytest.fixture
def accounts(api: httpx.AsyncClient, new_uow: Callable[[], MarketsUnitOfWork]) -> Accounts:
    return Accounts(api, new_uow)
