"""Unit-of-work contract: one transaction, committed or rolled back as one, then hooks.

The SQL units of work commit for real, so they run on a real ``tiered.db.Database``
(an SQLite file per test; PostgreSQL in a schema of its own, dropped afterwards).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession
from tests.contract.repository.conftest import BASE_TIME
from tests.contract.repository.domain import (
    InMemoryItemRepository,
    InMemoryOwnerRepository,
    Item,
    ItemRepository,
    Owner,
    OwnerRepository,
    metadata,
)

from tiered.db import Database
from tiered.errors import DuplicateResourceError, StaleVersionError
from tiered.repository import Filter, InMemoryStore
from tiered.testing import scratch_database
from tiered.unit_of_work import (
    AfterCommitHook,
    BaseUnitOfWork,
    InMemoryUnitOfWork,
    UnitOfWork,
)


class SqlShopUnitOfWork(UnitOfWork):
    items: ItemRepository
    owners: OwnerRepository

    def bind(self, session: AsyncSession) -> None:
        self.items = ItemRepository(session)
        self.owners = OwnerRepository(session)


class MemoryShopUnitOfWork(InMemoryUnitOfWork):
    items: InMemoryItemRepository
    owners: InMemoryOwnerRepository

    def bind(self, store: InMemoryStore) -> None:
        self.items = InMemoryItemRepository(store)
        self.owners = InMemoryOwnerRepository(store)


ShopUnitOfWork = SqlShopUnitOfWork | MemoryShopUnitOfWork
MakeUnitOfWork = Callable[[], ShopUnitOfWork]


@pytest_asyncio.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    async with scratch_database(f"sqlite+aiosqlite:///{tmp_path / 'uow.db'}", metadata) as db:
        yield db


@pytest_asyncio.fixture
async def postgres_database(postgres_url: str) -> AsyncIterator[Database]:
    async with scratch_database(postgres_url, metadata) as database:
        yield database


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def make_uow(request: pytest.FixtureRequest) -> MakeUnitOfWork:
    """A factory of fresh units of work over one shared database (or store)."""
    if request.param == "memory":
        store = InMemoryStore()
        return lambda: MemoryShopUnitOfWork(store)
    database: Database = request.getfixturevalue(f"{request.param}_database")
    return lambda: SqlShopUnitOfWork(database.sessionmaker)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def make_sql_uow(request: pytest.FixtureRequest) -> Callable[[], SqlShopUnitOfWork]:
    database: Database = request.getfixturevalue(f"{request.param}_database")
    return lambda: SqlShopUnitOfWork(database.sessionmaker)


class UseCaseError(Exception):
    """What a use case raises inside ``async with`` in these tests."""


def owner(name: str) -> Owner:
    return Owner(uuid.uuid4(), name)


async def stored_owner_names(make_uow: MakeUnitOfWork) -> list[str]:
    async with make_uow() as uow:
        return [found.name for found in (await uow.owners.find(sort=())).items]


async def failing_savepoint(uow: ShopUnitOfWork) -> None:
    async with uow.savepoint():
        await uow.owners.create(owner("inside"))
        raise UseCaseError


async def test_commit_persists(make_uow: MakeUnitOfWork) -> None:
    ada = owner("ada")
    uow = make_uow()
    async with uow:
        await uow.owners.create(ada)
    if isinstance(uow, InMemoryUnitOfWork):
        assert uow.commits == 1
    async with make_uow() as reader:
        found = await reader.owners.get_by_id(ada.id)
    assert found is not None
    assert found.name == "ada"


async def test_an_error_rolls_back_and_propagates(make_uow: MakeUnitOfWork) -> None:
    async with make_uow() as uow:
        await uow.owners.create(owner("kept"))
    error = UseCaseError("use case failed")
    uow = make_uow()

    async def use_case() -> None:
        async with uow:
            await uow.owners.create(owner("lost"))
            assert await uow.owners.exists([Filter.eq("name", "lost")])
            raise error

    with pytest.raises(UseCaseError) as caught:
        await use_case()
    assert caught.value is error
    if isinstance(uow, InMemoryUnitOfWork):
        assert uow.commits == 0
    assert await stored_owner_names(make_uow) == ["kept"]


async def test_hooks_run_after_the_commit_in_order(make_uow: MakeUnitOfWork) -> None:
    ada = owner("ada")
    calls: list[str] = []

    def hook(label: str) -> AfterCommitHook:
        async def run() -> None:
            async with make_uow() as reader:
                durable = await reader.owners.get_by_id(ada.id) is not None
            calls.append(f"{label}:{'durable' if durable else 'not yet'}")

        return run

    async with make_uow() as uow:
        uow.after_commit(hook("first"))
        await uow.owners.create(ada)
        uow.after_commit(hook("second"))
        uow.after_commit(hook("third"))
        assert calls == []
    assert calls == ["first:durable", "second:durable", "third:durable"]


async def test_hooks_never_run_on_rollback(make_uow: MakeUnitOfWork) -> None:
    calls: list[str] = []

    async def hook() -> None:
        calls.append("ran")

    uow = make_uow()

    async def use_case() -> None:
        async with uow:
            uow.after_commit(hook)
            await uow.owners.create(owner("lost"))
            raise UseCaseError

    with pytest.raises(UseCaseError):
        await use_case()
    assert calls == []
    async with uow:
        await uow.owners.create(owner("next"))
    assert calls == [], "a hook of a rolled-back transaction must not leak into the next one"


async def test_a_failing_hook_does_not_undo_the_commit(make_uow: MakeUnitOfWork) -> None:
    calls: list[str] = []

    async def failing() -> None:
        calls.append("failing")
        raise RuntimeError("cache is down")

    async def after() -> None:
        calls.append("after")

    async with make_uow() as uow:
        await uow.owners.create(owner("ada"))
        uow.after_commit(failing)
        uow.after_commit(after)
    assert calls == ["failing", "after"]
    assert await stored_owner_names(make_uow) == ["ada"]


async def test_a_failed_savepoint_undoes_only_its_own_work(make_uow: MakeUnitOfWork) -> None:
    async with make_uow() as uow:
        await uow.owners.create(owner("before"))
        with pytest.raises(UseCaseError):
            await failing_savepoint(uow)
        await uow.owners.create(owner("after"))
    assert sorted(await stored_owner_names(make_uow)) == ["after", "before"]


async def test_a_failed_savepoint_as_the_first_statement(make_uow: MakeUnitOfWork) -> None:
    async with make_uow() as uow:
        with pytest.raises(UseCaseError):
            await failing_savepoint(uow)
        await uow.owners.create(owner("after"))
    assert await stored_owner_names(make_uow) == ["after"]


async def test_a_released_savepoint_is_undone_with_its_transaction(
    make_uow: MakeUnitOfWork,
) -> None:
    async def use_case() -> None:
        async with make_uow() as uow:
            async with uow.savepoint():
                await uow.owners.create(owner("inside"))
            await uow.owners.create(owner("outside"))
            raise UseCaseError

    with pytest.raises(UseCaseError):
        await use_case()
    assert await stored_owner_names(make_uow) == []


async def test_a_duplicate_insert_is_a_duplicate_resource_error(
    make_uow: MakeUnitOfWork,
) -> None:
    async with make_uow() as uow:
        await uow.owners.create(owner("ada"))
    calls: list[str] = []

    async def hook() -> None:
        calls.append("ran")

    async def use_case() -> None:
        async with make_uow() as uow:
            uow.after_commit(hook)
            await uow.owners.create(owner("bob"))
            await uow.owners.create(owner("ada"))

    with pytest.raises(DuplicateResourceError) as caught:
        await use_case()
    assert caught.value.status == 409
    assert calls == []
    assert sorted(await stored_owner_names(make_uow)) == ["ada"]


async def test_a_duplicate_found_at_commit_is_a_duplicate_resource_error(
    make_sql_uow: Callable[[], SqlShopUnitOfWork],
) -> None:
    """A SQL session may defer a write to the commit; the commit translates its error too."""
    async with make_sql_uow() as uow:
        await uow.owners.create(owner("ada"))
    calls: list[str] = []

    async def hook() -> None:
        calls.append("ran")

    async def use_case() -> None:
        async with make_sql_uow() as uow:
            uow.after_commit(hook)
            uow.session.add(owner("ada"))

    with pytest.raises(DuplicateResourceError):
        await use_case()
    assert calls == []
    assert await stored_owner_names(make_sql_uow) == ["ada"]


async def test_a_unit_of_work_is_reusable(make_uow: MakeUnitOfWork) -> None:
    uow = make_uow()
    async with uow:
        await uow.owners.create(owner("first"))
    async with uow:
        await uow.owners.create(owner("second"))
    assert sorted(await stored_owner_names(make_uow)) == ["first", "second"]
    assert isinstance(uow, BaseUnitOfWork)


# -- PostgreSQL: real concurrency ------------------------------------------------------


@pytest.mark.postgres
async def test_two_concurrent_stale_writers_one_wins(postgres_database: Database) -> None:
    def make() -> SqlShopUnitOfWork:
        return SqlShopUnitOfWork(postgres_database.sessionmaker)

    ada = owner("ada")
    item = Item(uuid.uuid4(), "contested", ada.id, "open", Decimal("1"), BASE_TIME)
    async with make() as uow:
        await uow.owners.create(ada)
        await uow.items.create(item)

    both_loaded = asyncio.Barrier(2)

    async def writer(name: str) -> str:
        async with make() as uow:
            loaded = await uow.items.get_one(item.id)
            assert loaded.version == 1
            await both_loaded.wait()
            loaded.name = name
            await uow.items.update(loaded)
        return name

    outcomes = await asyncio.gather(writer("left"), writer("right"), return_exceptions=True)
    winners = [outcome for outcome in outcomes if isinstance(outcome, str)]
    losers = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert len(winners) == 1, outcomes
    assert len(losers) == 1, outcomes
    assert isinstance(losers[0], StaleVersionError), repr(losers[0])
    async with make() as reader:
        stored = await reader.items.get_one(item.id)
    assert (stored.name, stored.version) == (winners[0], 2)
