"""The per-request N+1 guard: strict in dev/test, a log line in production."""

from __future__ import annotations

import json

import pytest
from fastapi import APIRouter, Request
from sqlalchemy import text

from tiered.app import app_state, create_app
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
