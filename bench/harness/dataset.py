"""The data every variant reads: markets' own migrations and demo seed, on SQLite or PostgreSQL.

Seeding goes through the ``markets`` command line (migrate, then seed-demo)
so the schema, indexes and rows are exactly what the service ships; the
peers map the same tables. PostgreSQL gets a database of its own, created
here and dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from harness.variants import BENCH, MAIN_PYTHON, OUT

__all__ = [
    "BENCH_SIZE",
    "SMOKE_SIZE",
    "Dataset",
    "DemoSize",
    "postgres_dataset",
    "postgres_reachable",
    "postgres_url",
    "seed",
    "sqlite_dataset",
]

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True, slots=True)
class DemoSize:
    users: int
    markets: int
    positions: int


BENCH_SIZE = DemoSize(users=50, markets=2000, positions=1000)
SMOKE_SIZE = DemoSize(users=5, markets=60, positions=20)


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    url: str


def seed(datasets: list[Dataset], size: DemoSize) -> None:
    """Migrate and seed every dataset with markets' own commands, in one process."""
    env = {
        **os.environ,
        "MARKETS_ENVIRONMENT": "dev",
        "MARKETS_LOG_LEVEL": "WARNING",
    }
    OUT.mkdir(parents=True, exist_ok=True)
    command = [str(MAIN_PYTHON), str(BENCH / "seed.py")]
    command += [str(size.users), str(size.markets), str(size.positions)]
    result = subprocess.run(  # cwd: a developer's .env must not change the data
        command + [dataset.url for dataset in datasets],
        cwd=OUT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"seeding failed:\n{result.stdout}{result.stderr}")


def sqlite_dataset(path: Path) -> Dataset:
    """A SQLite database at ``path``, emptied (seed it next)."""
    for stale in path.parent.glob(f"{path.name}*"):
        stale.unlink()
    return Dataset("SQLite", f"sqlite+aiosqlite:///{path}")


def postgres_url() -> str:
    return os.environ.get("TIERED_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_reachable(url: str) -> bool:
    import asyncpg  # type: ignore[import-untyped]

    async def probe() -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


async def _admin(url: str, *statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def postgres_dataset(base_url: str) -> Iterator[Dataset]:
    """A fresh, empty database beside ``base_url``'s (seed it next); dropped on the way out."""
    name = f"bench_markets_{os.getpid()}"
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    asyncio.run(_admin(base_url, drop, f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
        yield Dataset("PostgreSQL", url)
    finally:
        asyncio.run(_admin(base_url, drop))
