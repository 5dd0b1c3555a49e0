"""``Database.analyze``: the planner gets statistics, and list pages stop sorting."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, text

from tiered.db import Database
from tiered.settings import AppSettings

metadata = MetaData()
things = Table(
    "analyze_things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("status", String(10), nullable=False, index=True),
    Column("name", String(50), nullable=False),
)


async def test_analyze_writes_the_statistics_sqlite_plans_with(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'analyze.db'}"
    database = Database.from_settings(AppSettings(environment="test", database_url=url))
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
            rows = [{"id": i, "status": "open", "name": f"n{i}"} for i in range(200)]
            await connection.execute(insert(things), rows)
        await database.analyze()
        async with database.engine.connect() as connection:
            stats = (await connection.execute(text("SELECT tbl FROM sqlite_stat1"))).all()
        assert ("analyze_things",) in stats
    finally:
        await database.dispose()
