"""CRUD contract: every repository backend reads and writes the same way."""

from __future__ import annotations

import uuid
from dataclasses import replace
from decimal import Decimal

import pytest
from tests.contract.repository.conftest import BASE_TIME, Backend, Catalog, new_item
from tests.contract.repository.domain import Item, ItemSummary, Owner, utc_naive

from tiered.errors import DuplicateResourceError, NotFoundError, StaleVersionError
from tiered.repository import Filter, Increment, OffsetPage, Op
from tiered.testing import assert_max_queries

pytestmark = pytest.mark.asyncio(loop_scope="session")


def names(entities: object) -> list[str]:
    return [entity.name for entity in entities]  # type: ignore[attr-defined]


# -- reads -----------------------------------------------------------------------------


async def test_get_by_id_finds_the_row(backend: Backend, catalog: Catalog) -> None:
    row = catalog.by_name("charlie")
    item = await backend.items.get_by_id(row.id)
    assert item is not None
    assert (item.id, item.name, item.owner_id, item.status) == (
        row.id,
        "charlie",
        row.owner_id,
        row.status,
    )
    assert item.score == row.score
    assert utc_naive(item.created_at) == utc_naive(row.created_at)
    assert item.version == 1


async def test_get_by_id_of_a_missing_row_is_none(backend: Backend, catalog: Catalog) -> None:
    assert await backend.items.get_by_id(uuid.uuid4()) is None


async def test_get_one_of_a_missing_row_is_a_404(backend: Backend, catalog: Catalog) -> None:
    missing = uuid.uuid4()
    with pytest.raises(NotFoundError) as caught:
        await backend.items.get_one(missing)
    assert caught.value.code == "ITEM_NOT_FOUND"
    assert caught.value.status == 404
    assert str(missing) in caught.value.message


async def test_get_one_loads_a_relation_by_name(backend: Backend, catalog: Catalog) -> None:
    row = catalog.by_name("bravo")
    item = await backend.items.get_one(row.id, load=["owner"])
    assert item.name == "bravo"
    assert item.owner.name == "bob"  # type: ignore[attr-defined]
    assert item.owner.id == catalog.bob.id  # type: ignore[attr-defined]


async def test_get_all_is_ordered_by_id(backend: Backend, catalog: Catalog) -> None:
    expected = sorted(catalog.rows, key=lambda row: row.id)
    assert [item.id for item in await backend.items.get_all()] == [row.id for row in expected]


async def test_list_paginated_skips_and_limits_in_id_order(
    backend: Backend, catalog: Catalog
) -> None:
    ordered = [row.id for row in sorted(catalog.rows, key=lambda row: row.id)]
    assert [item.id for item in await backend.items.list_paginated(3, 4)] == ordered[3:7]
    assert [item.id for item in await backend.items.list_paginated(8, 5)] == ordered[8:]
    assert await backend.items.list_paginated(10, 5) == []


async def test_get_many_ignores_duplicates_and_missing_ids(
    backend: Backend, catalog: Catalog
) -> None:
    wanted = [catalog.by_name(name).id for name in ("india", "alpha", "echo")]
    asked = [wanted[0], uuid.uuid4(), wanted[1], wanted[0], wanted[2], uuid.uuid4()]
    with assert_max_queries(1) as recorder:
        found = await backend.items.get_many(asked)
    assert [item.id for item in found] == sorted(wanted)
    if backend.is_sql:
        assert recorder.count == 1
        assert " IN " in recorder.statements[0].upper()
    assert await backend.items.get_many([]) == []
    assert await backend.items.get_many([uuid.uuid4()]) == []


async def test_get_many_beyond_the_driver_parameter_cap(backend: Backend, catalog: Catalog) -> None:
    """40,000 ids exceed asyncpg's 32,767 parameters: the ids go in chunks."""
    real = [catalog.by_name(name).id for name in ("juliet", "alpha")]
    asked = [uuid.uuid4() for _ in range(20_000)] + real + [uuid.uuid4() for _ in range(20_000)]
    found = await backend.items.get_many(asked)
    assert [item.id for item in found] == sorted(real)


# -- create ----------------------------------------------------------------------------


async def test_create_persists_and_sets_the_first_version(
    backend: Backend, catalog: Catalog
) -> None:
    created = await backend.items.create(new_item(catalog.ada, "kilo", score=Decimal("4.125")))
    assert created.version == 1
    await backend.reload()
    stored = await backend.items.get_one(created.id)
    assert (stored.name, stored.score, stored.version) == ("kilo", Decimal("4.125"), 1)
    assert utc_naive(stored.created_at) == utc_naive(BASE_TIME)
    assert await backend.items.count() == 11


async def test_create_with_an_existing_id_is_a_duplicate(
    backend: Backend, catalog: Catalog
) -> None:
    taken = catalog.by_name("alpha").id
    with pytest.raises(DuplicateResourceError) as caught:
        await backend.items.create(new_item(catalog.bob, "impostor", item_id=taken))
    assert caught.value.status == 409


@pytest.mark.filterwarnings("ignore:New instance .* conflicts with persistent instance")
async def test_create_with_the_id_of_a_loaded_entity_is_a_duplicate(
    backend: Backend, catalog: Catalog
) -> None:
    loaded = await backend.items.get_one(catalog.by_name("alpha").id)
    with pytest.raises(DuplicateResourceError):
        await backend.items.create(new_item(catalog.bob, "impostor", item_id=loaded.id))


async def test_create_with_a_taken_unique_value_is_a_duplicate(
    backend: Backend, catalog: Catalog
) -> None:
    with pytest.raises(DuplicateResourceError) as caught:
        await backend.owners.create(Owner(uuid.uuid4(), "ada"))
    assert caught.value.status == 409
    assert caught.value.code == "DUPLICATE_RESOURCE"


async def test_create_many_inserts_every_entity(backend: Backend, catalog: Catalog) -> None:
    batch = [new_item(catalog.bob, f"batch{index:02d}") for index in range(25)]
    created = await backend.items.create_many(batch)
    assert [item.id for item in created] == [item.id for item in batch]
    assert all(item.version == 1 for item in created)
    await backend.reload()
    assert await backend.items.count_where([Filter("name", Op.CONTAINS, "batch")]) == 25
    found = await backend.items.get_many(item.id for item in batch)
    assert sorted(names(found)) == [f"batch{index:02d}" for index in range(25)]


# -- update and optimistic concurrency -------------------------------------------------


async def test_update_persists_changes_and_bumps_the_version(
    backend: Backend, catalog: Catalog
) -> None:
    item = await backend.items.get_one(catalog.by_name("delta").id)
    item.name = "delta prime"
    item.score = Decimal("9.5")
    updated = await backend.items.update(item)
    assert updated.version == 2
    await backend.reload()
    stored = await backend.items.get_one(item.id)
    assert (stored.name, stored.score, stored.version) == ("delta prime", Decimal("9.5"), 2)

    stored.status = "closed"
    await backend.items.update(stored)
    await backend.reload()
    assert (await backend.items.get_one(item.id)).version == 3


async def test_an_update_without_changes_keeps_the_version(
    backend: Backend, catalog: Catalog
) -> None:
    row = catalog.by_name("alpha")
    item = await backend.items.get_one(row.id, load=["owner"])
    assert (await backend.items.update(item)).version == 1
    await backend.reload()
    assert (await backend.items.get_one(row.id)).version == 1


async def test_update_of_a_stale_copy_is_a_conflict(backend: Backend, catalog: Catalog) -> None:
    row = catalog.by_name("echo")
    mine = await backend.items.get_one(row.id)
    assert mine.version == 1
    async with backend.other_writer() as other:
        theirs = await other.items.get_one(row.id)
        assert theirs.version == 1
        theirs.name = "theirs"
        await other.items.update(theirs)
    mine.name = "mine"
    with pytest.raises(StaleVersionError) as caught:
        await backend.items.update(mine)
    assert caught.value.status == 409


async def test_the_winner_of_a_stale_race_is_kept(backend: Backend, catalog: Catalog) -> None:
    row = catalog.by_name("golf")
    async with backend.other_writer() as first:
        theirs = await first.items.get_one(row.id)
        theirs.name = "theirs"
        await first.items.update(theirs)
    async with backend.other_writer() as reader:
        stored = await reader.items.get_one(row.id)
    assert (stored.name, stored.version) == ("theirs", 2)


async def test_update_of_a_never_stored_entity_is_a_404(backend: Backend, catalog: Catalog) -> None:
    with pytest.raises(NotFoundError):
        await backend.items.update(new_item(catalog.ada, "ghost"))
    await backend.reload()
    assert await backend.items.count_where([Filter.eq("name", "ghost")]) == 0


# -- save (upsert) and merge -----------------------------------------------------------


async def test_save_inserts_when_absent(backend: Backend, catalog: Catalog) -> None:
    fresh = new_item(catalog.bob, "lima", score=Decimal("6.5"), status="draft")
    saved = await backend.items.save(fresh)
    assert (saved.id, saved.name, saved.score, saved.status) == (
        fresh.id,
        "lima",
        Decimal("6.5"),
        "draft",
    )
    assert saved.version == 1
    await backend.reload()
    stored = await backend.items.get_one(fresh.id)
    assert (stored.name, stored.version) == ("lima", 1)


async def test_save_updates_when_present_and_bumps_the_version(
    backend: Backend, catalog: Catalog
) -> None:
    row = catalog.by_name("foxtrot")
    replacement = Item(
        row.id, "foxtrot v2", catalog.ada.id, "closed", Decimal("7.75"), row.created_at
    )
    saved = await backend.items.save(replacement)
    assert (saved.name, saved.owner_id, saved.status, saved.score, saved.version) == (
        "foxtrot v2",
        catalog.ada.id,
        "closed",
        Decimal("7.75"),
        2,
    )
    await backend.reload()
    stored = await backend.items.get_one(row.id)
    assert (stored.name, stored.score, stored.version) == ("foxtrot v2", Decimal("7.75"), 2)
    assert await backend.items.count() == 10


async def test_save_refreshes_a_loaded_entity(backend: Backend, catalog: Catalog) -> None:
    row = catalog.by_name("hotel")
    loaded = await backend.items.get_one(row.id)
    saved = await backend.items.save(replace(loaded, name="hotel v2"))
    assert (saved.name, saved.version) == ("hotel v2", 2)
    current = await backend.items.get_one(row.id)
    assert (current.name, current.version) == ("hotel v2", 2)
    current.status = "draft"
    assert (await backend.items.update(current)).version == 3


async def test_save_with_a_taken_unique_value_is_a_duplicate(
    backend: Backend, catalog: Catalog
) -> None:
    with pytest.raises(DuplicateResourceError):
        await backend.owners.save(Owner(uuid.uuid4(), "bob"))


async def test_merge_updates_a_detached_copy(backend: Backend, catalog: Catalog) -> None:
    row = catalog.by_name("india")
    loaded = await backend.items.get_one(row.id)
    detached = replace(loaded, name="india v2", status="closed")
    await backend.reload()
    merged = await backend.items.merge(detached)
    assert (merged.name, merged.status, merged.version) == ("india v2", "closed", 2)
    await backend.reload()
    stored = await backend.items.get_one(row.id)
    assert (stored.name, stored.status, stored.version) == ("india v2", "closed", 2)


async def test_merge_of_an_unchanged_copy_keeps_the_version(
    backend: Backend, catalog: Catalog
) -> None:
    row = catalog.by_name("india")
    detached = replace(await backend.items.get_one(row.id))
    await backend.reload()
    merged = await backend.items.merge(detached)
    assert (merged.name, merged.version) == ("india", 1)
    await backend.reload()
    assert (await backend.items.get_one(row.id)).version == 1


async def test_merge_inserts_when_absent(backend: Backend, catalog: Catalog) -> None:
    fresh = new_item(catalog.ada, "mike")
    merged = await backend.items.merge(fresh)
    assert (merged.name, merged.version) == ("mike", 1)
    await backend.reload()
    assert (await backend.items.get_one(fresh.id)).name == "mike"


async def test_merge_of_a_stale_copy_is_a_conflict(backend: Backend, catalog: Catalog) -> None:
    row = catalog.by_name("juliet")
    stale = replace(await backend.items.get_one(row.id))
    async with backend.other_writer() as other:
        theirs = await other.items.get_one(row.id)
        theirs.name = "theirs"
        await other.items.update(theirs)
    await backend.reload()
    with pytest.raises(StaleVersionError):
        await backend.items.merge(replace(stale, name="mine"))


# -- delete ----------------------------------------------------------------------------


async def test_delete_removes_the_entity(backend: Backend, catalog: Catalog) -> None:
    row = catalog.by_name("alpha")
    item = await backend.items.get_one(row.id)
    await backend.items.delete(item)
    await backend.reload()
    assert await backend.items.get_by_id(row.id) is None
    assert await backend.items.count() == 9


async def test_delete_of_a_stale_copy_is_a_conflict(backend: Backend, catalog: Catalog) -> None:
    row = catalog.by_name("bravo")
    mine = await backend.items.get_one(row.id)
    async with backend.other_writer() as other:
        theirs = await other.items.get_one(row.id)
        theirs.name = "theirs"
        await other.items.update(theirs)
    with pytest.raises(StaleVersionError):
        await backend.items.delete(mine)


async def test_delete_by_id_reports_whether_a_row_went(backend: Backend, catalog: Catalog) -> None:
    row = catalog.by_name("charlie")
    assert await backend.items.delete_by_id(row.id) is True
    assert await backend.items.delete_by_id(row.id) is False
    assert await backend.items.delete_by_id(uuid.uuid4()) is False
    await backend.reload()
    assert await backend.items.get_by_id(row.id) is None
    assert await backend.items.count() == 9


async def test_delete_by_id_forgets_a_loaded_entity(backend: Backend, catalog: Catalog) -> None:
    row = catalog.by_name("delta")
    await backend.items.get_one(row.id)
    assert await backend.items.delete_by_id(row.id) is True
    assert await backend.items.get_by_id(row.id) is None


# -- exists and count ------------------------------------------------------------------


async def test_exists_by_id(backend: Backend, catalog: Catalog) -> None:
    assert await backend.items.exists(catalog.by_name("golf").id) is True
    assert await backend.items.exists(uuid.uuid4()) is False


async def test_exists_refuses_filters_with_a_clear_type_error(
    backend: Backend, catalog: Catalog
) -> None:
    with pytest.raises(TypeError, match=r"exists\(\) takes an id; to test filters use exists_wh"):
        await backend.items.exists([Filter.eq("name", "golf")])
    with pytest.raises(TypeError, match="takes an id"):
        await backend.items.exists(Filter.eq("name", "golf"))


async def test_exists_where_with_filters(backend: Backend, catalog: Catalog) -> None:
    assert await backend.items.exists_where() is True
    assert await backend.items.exists_where([Filter.eq("name", "golf")]) is True
    assert (
        await backend.items.exists_where([Filter.eq("name", "golf"), Filter.eq("status", "x")])
        is False
    )
    assert await backend.items.exists_where([Filter("score", Op.GT, Decimal("8"))]) is False
    assert await backend.items.exists_where([Filter("score", Op.GTE, Decimal("8"))]) is True
    assert await backend.items.exists_where(search="JULI") is True
    assert await backend.owners.exists_where([Filter.eq("name", "carol")]) is False


async def test_exists_on_an_empty_table_is_false(backend: Backend) -> None:
    assert await backend.items.exists_where() is False
    assert await backend.items.exists(uuid.uuid4()) is False
    assert await backend.items.count() == 0


async def test_count_where_with_filters_and_search(backend: Backend, catalog: Catalog) -> None:
    assert await backend.items.count() == 10
    assert await backend.items.count_where() == 10
    assert await backend.items.count_where([Filter.eq("status", "open")]) == 4
    assert await backend.items.count_where([Filter.eq("owner_id", catalog.bob.id)]) == 5
    assert await backend.items.count_where(search="LI") == 2  # charlie, juliet
    ada = [Filter.eq("owner_id", catalog.ada.id)]
    assert await backend.items.count_where(ada, search="a") == 3  # alpha, charlie, india
    assert await backend.items.count_where(ada, search="zz") == 0


# -- one read model, and atomic conditional updates ------------------------------------


async def test_find_one_returns_the_first_match_or_none(backend: Backend, catalog: Catalog) -> None:
    found = await backend.items.find_one([Filter.eq("status", "closed")])
    closed = sorted(row.id for row in catalog.rows if row.status == "closed")
    assert found is not None
    assert found.id == closed[0]
    assert await backend.items.find_one([Filter.eq("status", "none")]) is None


async def test_get_one_into_a_read_model(backend: Backend, catalog: Catalog) -> None:
    row = catalog.by_name("bravo")
    with assert_max_queries(1):
        summary = await backend.items.get_one(row.id, into=ItemSummary)
    assert (summary.name, summary.score) == ("bravo", row.score)
    assert summary.owner is not None
    assert summary.owner.name == "bob"
    with pytest.raises(NotFoundError):
        await backend.items.get_one(uuid.uuid4(), into=ItemSummary)


async def test_update_where_changes_matching_rows_and_bumps_versions(
    backend: Backend, catalog: Catalog
) -> None:
    changed = await backend.items.update_where(
        [Filter.eq("status", "open")], {"score": Increment(Decimal("0.5")), "name": "bumped"}
    )
    assert changed == 4
    await backend.reload()
    page = await backend.items.find([Filter.eq("status", "open")], page=OffsetPage(limit=10))
    expected = sorted(row.score + Decimal("0.5") for row in catalog.rows if row.status == "open")
    assert sorted(item.score for item in page.items) == expected
    assert {(item.name, item.version) for item in page.items} == {("bumped", 2)}
    assert await backend.items.update_where([Filter.eq("status", "none")], {"name": "x"}) == 0


async def test_a_loaded_entity_is_stale_after_update_where(
    backend: Backend, catalog: Catalog
) -> None:
    row = catalog.by_name("hotel")
    loaded = await backend.items.get_one(row.id)
    await backend.items.update_where([Filter.eq("id", row.id)], {"score": Increment(1)})
    loaded.name = "late"
    with pytest.raises(StaleVersionError):
        await backend.items.update(loaded)
