"""Search and sort through the repositories: one text rule on every backend.

The same mixed-case, non-ASCII names are searched and sorted (by offset pages
and by a cursor walk) on memory, SQLite, PostgreSQL, and PostgreSQL in a
database whose collation is linguistic (ICU ``en-US``), where the database's
own order would differ. Every backend must give Python's answer.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession
from tests.contract.repository.conftest import BASE_TIME
from tests.contract.repository.domain import (
    Item,
    ItemRepository,
    Owner,
    OwnerRepository,
    metadata,
)
from tests.contract.text_corpus import NEEDLES, ROWS

from tiered.db import fold
from tiered.repository import CursorPage, InMemorySession, InMemoryStore, OffsetPage, SortKey
from tiered.testing import scratch_database


@pytest_asyncio.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
        pytest.param("postgres-icu", id="postgres-icu", marks=pytest.mark.postgres),
    ]
)
async def items(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ItemRepository]:
    owner = Owner(uuid.uuid4(), "ada")
    rows = [
        Item(uuid.uuid4(), name, owner.id, "open", Decimal(index), BASE_TIME)
        for index, name in enumerate(ROWS)
    ]
    if request.param == "memory":
        session = InMemorySession(InMemoryStore(), autocommit=True)
        await OwnerRepository(session).create(owner)
        repository = ItemRepository(session)
        await repository.create_many(rows)
        yield repository
        return
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'text.db'}"
    else:
        fixture = "postgres_url" if request.param == "postgres" else "linguistic_postgres_url"
        url = request.getfixturevalue(fixture)
    async with (
        scratch_database(url, metadata) as database,
        AsyncSession(database.engine, expire_on_commit=False) as session,
    ):
        await OwnerRepository(session).create(owner)
        await ItemRepository(session).create_many(rows)
        await session.commit()
        yield ItemRepository(session)


async def test_search_finds_what_the_python_rule_finds(
    items: ItemRepository,
) -> None:
    for needle in NEEDLES:
        page = await items.find(search=needle, page=OffsetPage(limit=100))
        expected = {name for name in ROWS if fold(needle) in fold(name)}
        assert {item.name for item in page.items} == expected, needle
        assert await items.count_where(search=needle) == len(expected), needle


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
async def test_sort_and_cursor_walk_follow_code_point_order(
    items: ItemRepository, descending: bool
) -> None:
    expected = sorted(ROWS, reverse=descending)
    sort = [SortKey("name", descending=descending)]
    page = await items.find(sort=sort, page=OffsetPage(limit=100))
    assert [item.name for item in page.items] == expected
    walked: list[str] = []
    after = None
    while True:
        cursor_page = await items.find(sort=sort, page=CursorPage(limit=3, after=after))
        walked += [item.name for item in cursor_page.items]
        if cursor_page.next_after is None:
            break
        after = cursor_page.next_after
    assert walked == expected
