"""The first-resource guide, run on PostgreSQL too (the docs test runs it on SQLite and memory).

The guide declares ``Camera`` once (repository + route module); this proves the
same declaration answers the same way on a real PostgreSQL database.
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tiered.db import Database
from tiered.settings import AppSettings
from tiered.testing import scratch_postgres_database

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "first-resource.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


@pytest.fixture
def guide(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> types.ModuleType:
    """The guide's code as a module (its own SQLite and memory runs included)."""
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("first_resource_guide")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for index, block in enumerate(_BLOCK.findall(GUIDE.read_text())):
        exec(compile(block, f"first-resource.md[block {index}]", "exec"), module.__dict__)
    return module


@pytest.fixture
async def fresh_postgres(postgres_url: str) -> AsyncIterator[str]:
    async with scratch_postgres_database(postgres_url, "tiered_cameras") as url:
        yield url


@pytest.mark.postgres
async def test_the_guide_answers_the_same_on_postgres(
    guide: types.ModuleType, fresh_postgres: str
) -> None:
    database = Database.from_settings(AppSettings(environment="test", database_url=fresh_postgres))
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(guide.metadata.create_all)
        await guide.seed(guide.CameraUnitOfWork(database.sessionmaker))
    finally:
        await database.dispose()
    await guide.exercise(guide.build_app(fresh_postgres))
