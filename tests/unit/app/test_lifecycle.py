from __future__ import annotations

import gc
import json
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from starlette.requests import Request

from tiered.app import AppState, Resource, app_state, create_app
from tiered.errors import ConfigurationError
from tiered.settings import AppSettings
from tiered.testing import app_client


def recording_resource(name: str, events: list[str]) -> Resource:
    @asynccontextmanager
    async def resource(state: AppState) -> AsyncIterator[None]:
        assert state.database is not None
        events.append(f"start {name}")
        state.extras[name] = True
        try:
            yield
        finally:
            events.append(f"stop {name}")

    return resource


async def test_resources_start_in_order_and_stop_in_reverse(sqlite_url: str) -> None:
    events: list[str] = []
    settings = AppSettings(database_url=sqlite_url, log_json=True)
    app = create_app(
        settings,
        title="t",
        resources=[recording_resource("worker", events), recording_resource("relay", events)],
    )
    async with app_client(app) as client:
        assert (await client.get("/health/ready")).status_code == 200
        assert events == ["start worker", "start relay"]
        assert app.state.tiered.extras == {"worker": True, "relay": True}
    assert events == ["start worker", "start relay", "stop relay", "stop worker"]


async def test_failing_resource_closes_what_started(sqlite_url: str) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def broken(state: AppState) -> AsyncIterator[None]:
        raise RuntimeError("cannot start")
        yield  # pragma: no cover

    app = create_app(
        AppSettings(database_url=sqlite_url),
        title="t",
        resources=[recording_resource("first", events), broken],
    )
    with pytest.raises(RuntimeError, match="cannot start"):
        async with app_client(app):
            pass  # pragma: no cover
    assert events == ["start first", "stop first"]


async def test_lifecycle_is_logged(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    app = create_app(AppSettings(database_url=sqlite_url, log_json=True), title="t")
    async with app_client(app):
        pass
    events = [
        json.loads(line)["event"]
        for line in capsys.readouterr().out.splitlines()
        if line[:1] == "{"
    ]
    assert events.index("ready") < events.index("stopping") < events.index("stopped")


async def test_state_reachable_from_dependencies(sqlite_url: str) -> None:
    router = APIRouter()

    @router.get("/backend")
    async def backend(state: Annotated[AppState, Depends(app_state)]) -> dict[str, str]:
        return {"backend": state.database.url.get_backend_name()}

    app = create_app(AppSettings(database_url=sqlite_url), title="t", routers=[router])
    async with app_client(app) as client:
        assert (await client.get("/backend")).json() == {"backend": "sqlite"}


def test_state_outside_lifespan_is_a_configuration_error() -> None:
    request = Request({"type": "http", "app": FastAPI(), "headers": []})
    with pytest.raises(ConfigurationError, match="lifespan"):
        app_state(request)


async def test_sqlite_is_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    from sqlalchemy import text

    from tiered.db import Database

    database = Database.from_settings(AppSettings(database_url=sqlite_url))
    try:
        async with database.engine.connect() as connection:
            journal = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
            foreign_keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar_one()
    finally:
        await database.dispose()
    assert journal == "wal"
    assert foreign_keys == 1


async def test_in_memory_sqlite_shares_one_connection() -> None:
    from sqlalchemy import text

    from tiered.db import Database

    database = Database.from_settings(AppSettings(database_url="sqlite+aiosqlite:///:memory:"))
    try:
        async with database.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
        async with database.session() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
    finally:
        await database.dispose()


class _Node:
    """A reference cycle: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.mark.parametrize("freeze", [True, False])
async def test_startup_objects_are_frozen_until_shutdown(sqlite_url: str, freeze: bool) -> None:
    gc.unfreeze()
    app = create_app(AppSettings(database_url=sqlite_url, gc_freeze=freeze), title="t")
    async with app_client(app) as client:
        assert (await client.get("/health/live")).status_code == 200
        frozen = gc.get_freeze_count()
        made_while_serving = weakref.ref(_Node())
        gc.collect()
        assert made_while_serving() is None, "what requests make is still collected"
    assert (frozen > 10_000) is freeze
    assert gc.get_freeze_count() == 0
