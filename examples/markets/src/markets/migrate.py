"""Schema migrations (Alembic), configured in code: no ``alembic.ini`` to keep in sync."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["alembic_config", "current_revision", "head_revision", "upgrade"]


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "markets:migrations")
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking: run from the CLI or ``asyncio.to_thread``, never on the event loop."""
    command.upgrade(alembic_config(database_url), revision)


def head_revision(database_url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()


async def current_revision(connection: AsyncConnection) -> str | None:
    return await connection.run_sync(
        lambda sync: MigrationContext.configure(sync).get_current_revision()
    )
