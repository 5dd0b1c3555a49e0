from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from markets.cli import app as cli
from markets.domain.users import Role
from markets.migrate import alembic_config, current_revision, head_revision, upgrade
from markets.repositories.tables import users


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


async def test_credentials_migration_keeps_existing_users_and_reverts(database_url: str) -> None:
    """0004 gives existing users token version 0, and its downgrade leaves 0003 as it was."""
    await asyncio.to_thread(upgrade, database_url, "0003")
    engine = create_async_engine(database_url)
    now = datetime.now(UTC)
    old_user = {
        "id": uuid.uuid4(),
        "email": "old@example.com",
        "display_name": "Old",
        "role": Role.USER,
        "is_active": True,
        "created_at": now,
        "updated_at": now,
    }
    try:
        async with engine.begin() as connection:
            await connection.execute(users.insert().values(**old_user))
        await asyncio.to_thread(upgrade, database_url)
        async with engine.connect() as connection:
            versions = await connection.execute(select(users.c.email, users.c.token_version))
            assert versions.all() == [("old@example.com", 0)]

        await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0003")
        assert await _revision(database_url) == "0003"
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            columns = await connection.run_sync(
                lambda sync: {column["name"] for column in inspect(sync).get_columns("users")}
            )
            emails = (await connection.execute(select(users.c.email))).scalars().all()
        assert {"api_keys", "refresh_tokens"}.isdisjoint(tables)
        assert "token_version" not in columns
        assert emails == ["old@example.com"]
        await asyncio.to_thread(upgrade, database_url)
        assert await _revision(database_url) == head_revision(database_url)
    finally:
        await engine.dispose()


async def test_jobs_migration_adds_its_tables_and_reverts(database_url: str) -> None:
    """0005 adds the jobs, their executions and the notifications; its downgrade drops them."""
    jobs_tables = {"jobs", "job_executions", "notifications"}

    async def tables() -> set[str]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        finally:
            await engine.dispose()
        return set(names)

    await asyncio.to_thread(upgrade, database_url, "0004")
    assert jobs_tables.isdisjoint(await tables())
    await asyncio.to_thread(upgrade, database_url, "0005")
    assert jobs_tables <= await tables()
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0004")
    assert jobs_tables.isdisjoint(await tables())
    assert {"users", "markets", "positions", "api_keys"} <= await tables()
    await asyncio.to_thread(upgrade, database_url)
    assert await _revision(database_url) == head_revision(database_url)
