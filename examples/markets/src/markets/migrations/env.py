"""Alembic environment: runs migrations on the service's async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from markets.config import Settings
from markets.repositories.tables import metadata
from tiered.db import Database

TARGET_METADATA = metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=TARGET_METADATA,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str) -> None:
    database = Database.from_settings(Settings(database_url=url))
    try:
        async with database.engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await database.dispose()


def main() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        url = Settings().database_url
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=TARGET_METADATA, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url))


main()
