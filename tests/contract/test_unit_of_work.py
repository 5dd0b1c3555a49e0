"""Unit-of-work contract: one transaction, committed or rolled back as one, then hooks.

The SQL units of work commit for real, so they run on a real ``tiered.db.Database``
(an SQLite file per test; PostgreSQL in a schema of its own, dropped afterwards).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.contract.repository.conftest import BASE_TIME
from tests.contract.repository.domain import (
    Item,
    ItemRepository,
    Owner,
    OwnerRepository,
    metadata,
)

from tiered.db import Database
from tiered.errors import (
    DatabaseUnavailableError,
    DuplicateResourceError,
    NotFoundError,
    StaleVersionError,
)
from tiered.repository import Filter, Increment, InMemorySession, InMemoryStore
from tiered.testing import scratch_database
from tiered.unit_of_work import (
    AfterCommitHook,
    BaseUnitOfWork,
    InMemoryUnitOfWork,
    UnitOfWork,
    UnitOfWorkError,
)


class ShopRepositories:
    """The repositories of both units of work: one declaration, either backend."""

    items: ItemRepository
    owners: OwnerRepository

    def create_repositories(self, session: AsyncSession | InMemorySession) -> None:
        self.items = ItemRepository(session)
        self.owners = OwnerRepository(session)


class SqlShopUnitOfWork(ShopRepositories, UnitOfWork):
    pass


class MemoryShopUnitOfWork(ShopRepositories, InMemoryUnitOfWork):
    pass


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
    return uow_factory(request, request.param)


def uow_factory(request: pytest.FixtureRequest, backend: str) -> MakeUnitOfWork:
    if backend == "memory":
        store = InMemoryStore()
        return lambda: MemoryShopUnitOfWork(store)
    database: Database = request.getfixturevalue(f"{backend}_database")
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


async def stored_ada(make_uow: MakeUnitOfWork) -> Owner:
    ada = owner("ada")
    async with make_uow() as uow:
        await uow.owners.create(ada)
    return ada


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
            assert await uow.owners.exists_where([Filter.eq("name", "lost")])
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


# -- hooks belong to their savepoint ---------------------------------------------------


def recording(calls: list[str], label: str) -> AfterCommitHook:
    async def hook() -> None:
        calls.append(label)

    return hook


async def failing_savepoint_with_hook(uow: ShopUnitOfWork, calls: list[str]) -> None:
    async with uow.savepoint():
        uow.after_commit(recording(calls, "undone"))
        await uow.owners.create(owner("inside"))
        raise UseCaseError


async def test_a_hook_of_a_rolled_back_savepoint_never_runs(make_uow: MakeUnitOfWork) -> None:
    calls: list[str] = []
    async with make_uow() as uow:
        uow.after_commit(recording(calls, "outer"))
        with pytest.raises(UseCaseError):
            await failing_savepoint_with_hook(uow, calls)
        uow.after_commit(recording(calls, "later"))
    assert calls == ["outer", "later"]
    assert await stored_owner_names(make_uow) == []


async def test_a_hook_of_a_released_savepoint_runs_in_order(make_uow: MakeUnitOfWork) -> None:
    calls: list[str] = []
    async with make_uow() as uow:
        uow.after_commit(recording(calls, "first"))
        async with uow.savepoint():
            uow.after_commit(recording(calls, "second"))
            with pytest.raises(UseCaseError):
                await failing_savepoint_with_hook(uow, calls)
            uow.after_commit(recording(calls, "third"))
        uow.after_commit(recording(calls, "fourth"))
        assert calls == []
    assert calls == ["first", "second", "third", "fourth"]


async def test_a_released_savepoint_hook_dies_with_its_transaction(
    make_uow: MakeUnitOfWork,
) -> None:
    calls: list[str] = []

    async def use_case() -> None:
        async with make_uow() as uow:
            async with uow.savepoint():
                uow.after_commit(recording(calls, "released"))
            raise UseCaseError

    with pytest.raises(UseCaseError):
        await use_case()
    assert calls == []


async def test_hooks_and_savepoints_need_an_active_transaction(make_uow: MakeUnitOfWork) -> None:
    uow = make_uow()
    with pytest.raises(UnitOfWorkError, match="needs an active transaction"):
        uow.after_commit(recording([], "never"))
    with pytest.raises(UnitOfWorkError, match="needs an active transaction"):
        uow.savepoint()


# -- one transaction per instance --------------------------------------------------------


async def test_re_entering_an_active_unit_of_work_is_refused(make_uow: MakeUnitOfWork) -> None:
    uow = make_uow()
    async with uow:
        await uow.owners.create(owner("outer"))
        with pytest.raises(UnitOfWorkError, match="already in a transaction"):
            async with uow:
                raise AssertionError("the body of a refused re-entry must not run")
        await uow.owners.create(owner("still outer"))
    assert sorted(await stored_owner_names(make_uow)) == ["outer", "still outer"]


async def test_read_only_re_entry_is_refused_too(make_uow: MakeUnitOfWork) -> None:
    uow = make_uow()
    async with uow:
        with pytest.raises(UnitOfWorkError):
            async with uow.read_only():
                raise AssertionError("unreachable")
    async with uow.read_only() as reader:
        assert await reader.owners.count() == 0


# -- the identity map: one object per id, changes written at commit ---------------------


async def test_changes_to_a_loaded_entity_are_committed_without_update(
    make_uow: MakeUnitOfWork,
) -> None:
    ada = owner("ada")
    async with make_uow() as uow:
        await uow.owners.create(ada)
        item = await uow.items.create(
            Item(uuid.uuid4(), "before", ada.id, "open", Decimal("1"), BASE_TIME)
        )
    async with make_uow() as uow:
        loaded = await uow.items.get_one(item.id)
        assert await uow.items.get_by_id(item.id) is loaded, "one object per id"
        loaded.name = "after"
    async with make_uow() as reader:
        stored = await reader.items.get_one(item.id)
    assert (stored.name, stored.version) == ("after", 2)


async def test_changes_to_a_loaded_entity_are_dropped_on_rollback(
    make_uow: MakeUnitOfWork,
) -> None:
    ada = await stored_ada(make_uow)

    async def use_case() -> None:
        async with make_uow() as uow:
            loaded = await uow.owners.get_one(ada.id)
            loaded.name = "renamed"
            raise UseCaseError

    with pytest.raises(UseCaseError):
        await use_case()
    assert await stored_owner_names(make_uow) == ["ada"]


async def test_deleting_a_never_stored_entity_is_a_404(make_uow: MakeUnitOfWork) -> None:
    with pytest.raises(NotFoundError) as caught:
        async with make_uow() as uow:
            await uow.owners.delete(owner("ghost"))
    assert caught.value.status == 404


async def test_a_read_only_unit_of_work_refuses_every_kind_of_write(
    make_uow: MakeUnitOfWork,
) -> None:
    ada = await stored_ada(make_uow)
    attempts: list[Callable[[ShopUnitOfWork], Awaitable[object]]] = [
        lambda uow: uow.owners.create(owner("bob")),
        lambda uow: uow.owners.delete_by_id(ada.id),
        lambda uow: uow.owners.update_where([Filter.eq("id", ada.id)], {"name": "renamed"}),
    ]
    for attempt in attempts:
        with pytest.raises(UnitOfWorkError, match="read-only unit of work cannot"):
            async with make_uow().read_only() as reader:
                await attempt(reader)
    assert await stored_owner_names(make_uow) == ["ada"]


async def test_a_read_only_unit_of_work_refuses_changes_to_a_loaded_entity(
    make_uow: MakeUnitOfWork,
) -> None:
    ada = await stored_ada(make_uow)

    async def rename() -> None:
        async with make_uow().read_only() as reader:
            loaded = await reader.owners.get_one(ada.id)
            loaded.name = "renamed"
            await reader.owners.update(loaded)

    with pytest.raises(UnitOfWorkError, match="read-only unit of work cannot"):
        await rename()
    assert await stored_owner_names(make_uow) == ["ada"]


# -- isolation between units of work ---------------------------------------------------


async def test_a_reader_does_not_see_uncommitted_writes(make_uow: MakeUnitOfWork) -> None:
    async with make_uow() as writer:
        await writer.owners.create(owner("pending"))
        async with make_uow().read_only() as reader:
            assert await reader.owners.count() == 0
    async with make_uow().read_only() as reader:
        assert await reader.owners.count() == 1


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def make_interleaved_uow(request: pytest.FixtureRequest) -> MakeUnitOfWork:
    """Backends whose writers interleave (SQLite's writers queue instead)."""
    return uow_factory(request, request.param)


async def test_a_rollback_never_undoes_another_units_commit(
    make_interleaved_uow: MakeUnitOfWork,
) -> None:
    make = make_interleaved_uow
    b_wrote, a_committed = asyncio.Event(), asyncio.Event()

    async def writer_a() -> None:
        await b_wrote.wait()
        async with make() as uow:
            await uow.owners.create(owner("a"))
        a_committed.set()

    async def writer_b() -> None:
        async with make() as uow:
            await uow.owners.create(owner("b"))
            b_wrote.set()
            await a_committed.wait()
            raise UseCaseError

    results = await asyncio.gather(writer_a(), writer_b(), return_exceptions=True)
    assert results[0] is None
    assert isinstance(results[1], UseCaseError)
    assert await stored_owner_names(make) == ["a"]


# -- SQLite: writers queue instead of failing -----------------------------------------


async def test_fifty_concurrent_read_modify_writes_on_sqlite_all_succeed(
    sqlite_database: Database,
) -> None:
    def make() -> SqlShopUnitOfWork:
        return SqlShopUnitOfWork(sqlite_database.sessionmaker)

    ada = owner("ada")
    item = Item(uuid.uuid4(), "counter", ada.id, "open", Decimal("0"), BASE_TIME)
    async with make() as uow:
        await uow.owners.create(ada)
        await uow.items.create(item)

    async def increment() -> None:
        async with make() as uow:
            loaded = await uow.items.get_one(item.id)
            await asyncio.sleep(0)  # let every other writer run up to its own read
            loaded.score += 1

    async def read() -> int:
        async with make().read_only() as uow:
            return await uow.items.count()

    outcomes = await asyncio.gather(
        *(increment() for _ in range(50)), *(read() for _ in range(10)), return_exceptions=True
    )
    assert [outcome for outcome in outcomes if isinstance(outcome, BaseException)] == []
    async with make().read_only() as reader:
        stored = await reader.items.get_one(item.id)
    assert (stored.score, stored.version) == (Decimal("50"), 51)


async def test_a_nested_writer_on_sqlite_fails_at_once_with_a_clear_error(
    sqlite_database: Database,
) -> None:
    def make() -> SqlShopUnitOfWork:
        return SqlShopUnitOfWork(sqlite_database.sessionmaker)

    async with make() as outer:
        await outer.owners.create(owner("outer"))
        with pytest.raises(UnitOfWorkError, match="would wait for itself"):
            async with make():
                raise AssertionError("unreachable")
        async with make().read_only() as reader:
            assert await reader.owners.count() == 0
    assert await stored_owner_names(make) == ["outer"]


async def test_a_queued_sqlite_writer_gives_up_with_a_503(sqlite_database: Database) -> None:
    holding, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with SqlShopUnitOfWork(sqlite_database.sessionmaker) as uow:
            await uow.owners.create(owner("holder"))
            holding.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await holding.wait()
    try:
        with pytest.raises(DatabaseUnavailableError) as caught:
            async with SqlShopUnitOfWork(sqlite_database.sessionmaker, writer_wait=0.05):
                raise AssertionError("unreachable")
        assert caught.value.status == 503
    finally:
        release.set()
        await task
    assert await stored_owner_names(lambda: SqlShopUnitOfWork(sqlite_database.sessionmaker)) == [
        "holder"
    ]


async def test_fifty_concurrent_increments_sum_exactly(
    make_sql_uow: Callable[[], SqlShopUnitOfWork],
) -> None:
    """``update_where`` with an ``Increment`` is computed by the database: none is lost."""
    ada = owner("ada")
    item = Item(uuid.uuid4(), "counter", ada.id, "open", Decimal("0"), BASE_TIME)
    async with make_sql_uow() as uow:
        await uow.owners.create(ada)
        await uow.items.create(item)

    async def increment(amount: Decimal) -> None:
        async with make_sql_uow() as uow:
            await asyncio.sleep(0)
            assert await uow.items.update_where(
                [Filter.eq("id", item.id), Filter.eq("status", "open")],
                {"score": Increment(amount)},
            )

    amounts = [Decimal(f"{index}.{index:02d}") for index in range(1, 51)]
    await asyncio.gather(*(increment(amount) for amount in amounts))
    async with make_sql_uow().read_only() as reader:
        stored = await reader.items.get_one(item.id)
    assert (stored.score, stored.version) == (sum(amounts), 51)


async def test_a_read_only_unit_of_work_ends_without_a_commit_and_still_runs_its_hooks(
    make_sql_uow: Callable[[], SqlShopUnitOfWork],
) -> None:
    """Closing the session ends what a reader began: a commit would be a call for nothing."""
    commits: list[object] = []
    ran: list[str] = []
    uow = make_sql_uow()

    async def hook() -> None:
        ran.append("hook")

    def record(connection: object) -> None:
        commits.append(connection)

    async with uow.read_only() as reader:
        engine = reader.session.get_bind()
        event.listen(engine, "commit", record)
        assert await reader.owners.count() == 0
        reader.after_commit(hook)
    try:
        assert commits == []
        assert ran == ["hook"]
        async with make_sql_uow() as writer:
            await writer.owners.create(owner("ada"))
        assert len(commits) == 1
    finally:
        event.remove(engine, "commit", record)


async def test_sqlite_readers_send_no_begin_and_writers_begin_immediate(
    sqlite_database: Database,
) -> None:
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent.append(statement.split()[0] + (" IMMEDIATE" if "IMMEDIATE" in statement else ""))

    engine = sqlite_database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        async with SqlShopUnitOfWork(sqlite_database.sessionmaker).read_only() as reader:
            assert await reader.owners.count() == 0
        assert sent == ["SELECT"], "a read-only unit of work sends no BEGIN (and no ping)"
        sent.clear()
        async with SqlShopUnitOfWork(sqlite_database.sessionmaker) as writer:
            await writer.owners.create(owner("ada"))
        assert sent[0] == "BEGIN IMMEDIATE"
    finally:
        event.remove(engine, "before_cursor_execute", record)


# -- PostgreSQL: real concurrency ------------------------------------------------------


@pytest.mark.postgres
async def _second_statement(uow: SqlShopUnitOfWork) -> tuple[bool, str]:
    """Whether it ran in the first one's transaction, and that transaction's read-only setting.

    ``now()`` is when the current transaction started.
    """
    first = (await uow.session.execute(text("SELECT now()"))).scalar_one()
    second = "SELECT now(), current_setting('transaction_read_only')"
    started, read_only = (await uow.session.execute(text(second))).one()
    return started == first, str(read_only)


async def test_postgres_readers_at_read_committed_run_in_autocommit(
    postgres_database: Database,
) -> None:
    """Each statement takes its own snapshot at READ COMMITTED: a transaction adds nothing."""
    async with SqlShopUnitOfWork(postgres_database.sessionmaker) as writer:
        assert await _second_statement(writer) == (True, "off")
    async with SqlShopUnitOfWork(postgres_database.sessionmaker).read_only() as reader:
        assert await _second_statement(reader) == (False, "off")


async def test_postgres_readers_at_repeatable_read_keep_one_read_only_transaction(
    postgres_database: Database,
) -> None:
    """A stricter level promises one snapshot for all statements: that takes a transaction."""
    engine = postgres_database.engine.execution_options(isolation_level="REPEATABLE READ")
    stricter = async_sessionmaker(engine, expire_on_commit=False)
    async with SqlShopUnitOfWork(stricter).read_only() as reader:
        assert await _second_statement(reader) == (True, "on")


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
