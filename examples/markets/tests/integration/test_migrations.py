from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from markets.cli import app as cli
from markets.migrate import current_revision, head_revision, upgrade


async def _revision(url: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await current_revision(connection)
    finally:
        await engine.dispose()


async def test_upgrade_reaches_head(database_url: str) -> None:
    assert await _revision(database_url) is None
    await asyncio.to_thread(upgrade, database_url)
    head = head_revision(database_url)
    assert head is not None
    assert await _revision(database_url) == head
    await asyncio.to_thread(upgrade, database_url)
    assert await _revision(database_url) == head


def test_cli_migrate_uses_settings(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKETS_DATABASE_URL", sqlite_url)
    result = CliRunner().invoke(cli, ["migrate"])
    assert result.exit_code == 0, result.output
    assert asyncio.run(_revision(sqlite_url)) == head_revision(sqlite_url)


def test_cli_help_lists_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output
    assert "migrate" in result.output
    serve_help = CliRunner().invoke(cli, ["serve", "--help"])
    for option in ("--host", "--port", "--workers", "--reload", "--migrate"):
        assert option in serve_help.output


async def test_migrations_match_the_mapped_schema(database_url: str) -> None:
    """No drift: the tables the ORM maps are exactly what the migrations build."""
    from alembic import command

    from markets.migrate import alembic_config

    await asyncio.to_thread(upgrade, database_url)
    await asyncio.to_thread(command.check, alembic_config(database_url))
