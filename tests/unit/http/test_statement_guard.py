"""The per-request N+1 guard: strict in dev/test, a log line in production."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi import APIRouter, Request
from sqlalchemy import text

from tiered.app import app_state, create_app
from tiered.db import record_statements
from tiered.settings import AppSettings
from tiered.testing import app_client

STRONG_SECRET = "k3Jq9vXz-1pLm8Rt5Yw2Nb7Hc4Fd6Gs0Ae"
router = APIRouter()


@router.get("/lookups/{times}")
async def lookups(times: int, request: Request) -> dict[str, int]:
    """Runs the same query ``times`` times, like a lazy load in a loop."""
    async with app_state(request).database.session() as session:
        for index in range(times):
            await session.execute(text("SELECT :x"), {"x": index})
            await asyncio.sleep(0)  # lets concurrent requests interleave
    return {"ran": times}


async def test_repeated_statement_fails_the_request_in_dev(sqlite_url: str) -> None:
    settings = AppSettings(database_url=sqlite_url, statement_repeat_threshold=3)
    async with app_client(create_app(settings, title="t", routers=[router])) as client:
        assert (await client.get("/lookups/3")).status_code == 200
        response = await client.get("/lookups/4")
    assert response.status_code == 500
    assert response.json()["code"] == "REPEATED_STATEMENT"
    assert "SELECT" not in response.text


async def test_repeated_statement_is_logged_in_production(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = AppSettings(
        database_url=sqlite_url,
        environment="production",
        jwt_secret=STRONG_SECRET,
        cursor_secret=STRONG_SECRET[::-1],
        statement_repeat_threshold=3,
    )
    async with app_client(create_app(settings, title="t", routers=[router])) as client:
        capsys.readouterr()
        response = await client.get("/lookups/8")
    assert response.status_code == 200
    warnings = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("{") and '"repeated_statement"' in line
    ]
    assert len(warnings) == 1
    assert warnings[0]["threshold"] == 3


async def test_guard_can_be_switched_off(sqlite_url: str) -> None:
    settings = AppSettings(database_url=sqlite_url, statement_repeat_threshold=0)
    async with app_client(create_app(settings, title="t", routers=[router])) as client:
        assert (await client.get("/lookups/20")).status_code == 200


async def test_concurrent_requests_are_counted_apart(sqlite_url: str) -> None:
    """Each request has its own tally: five at once, each at the threshold, all pass."""
    settings = AppSettings(database_url=sqlite_url, statement_repeat_threshold=3)
    async with app_client(create_app(settings, title="t", routers=[router])) as client:
        responses = await asyncio.gather(*(client.get("/lookups/3") for _ in range(5)))
        over = await client.get("/lookups/4")
    assert [response.status_code for response in responses] == [200] * 5
    assert over.status_code == 500


async def test_a_recorder_inside_a_request_sees_what_the_guard_counts(sqlite_url: str) -> None:
    seen: list[list[str]] = []
    nested = APIRouter()

    @nested.get("/recorded")
    async def recorded(request: Request) -> dict[str, int]:
        with record_statements() as recorder:
            async with app_state(request).database.session() as session:
                await session.execute(text("SELECT 1"))
                await session.execute(text("SELECT 2"))
        seen.append(recorder.statements)
        return {"count": recorder.count}

    settings = AppSettings(database_url=sqlite_url, statement_repeat_threshold=1)
    async with app_client(create_app(settings, title="t", routers=[nested])) as client:
        response = await client.get("/recorded")
    assert response.status_code == 200
    assert seen == [["SELECT 1", "SELECT 2"]]
