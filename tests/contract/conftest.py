"""Fixtures shared by the contract suites."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


def _database_url(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _admin(url: str, sql: str) -> None:
    """Run ``sql`` in the ``postgres`` database, outside any event loop a test is in."""

    async def run() -> None:
        engine = create_async_engine(_database_url(url, "postgres"), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.exec_driver_sql(sql)
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture(scope="session")
def linguistic_postgres_url(postgres_url: str) -> Iterator[str]:
    """A database whose default collation is ICU ``en-US``, dropped after the session."""
    name = f"tiered_text_icu_{uuid.uuid4().hex[:12]}"
    _admin(
        postgres_url,
        f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' "
        "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'",
    )
    try:
        yield _database_url(postgres_url, name)
    finally:
        _admin(postgres_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
