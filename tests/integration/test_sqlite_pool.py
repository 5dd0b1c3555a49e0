"""A SQLite file's pool opens no connection beyond its size: concurrent requests wait their turn."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from tiered.db import Database
from tiered.settings import AppSettings


async def test_concurrent_sessions_share_the_pools_connections(tmp_path: Path) -> None:
    database = Database.from_settings(
        AppSettings(
            environment="test",
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}",
            database_pool_size=3,
        )
    )
    opened: list[Any] = []
    event.listen(database.engine.sync_engine, "connect", lambda connection, _: opened.append(1))
    in_use = 0
    most_in_use = 0

    async def read(index: int) -> int:
        nonlocal in_use, most_in_use
        async with database.session() as session:
            value = (await session.execute(text("SELECT :n"), {"n": index})).scalar_one()
            in_use += 1
            most_in_use = max(most_in_use, in_use)
            await asyncio.sleep(0.005)
            in_use -= 1
            return int(value)

    try:
        for _ in range(3):
            assert await asyncio.gather(*(read(n) for n in range(20))) == list(range(20))
    finally:
        await database.engine.dispose()
    assert len(opened) == 3, "every connection opened once, none for a single request"
    assert most_in_use == 3
