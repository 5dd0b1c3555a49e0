"""Query contract: filters, search, sort and both page kinds mean the same on every backend."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from tests.contract.repository.conftest import BASE_TIME, Backend, Catalog, new_item
from tests.contract.repository.domain import Item, ItemSummary, OwnerRef

from tiered.errors import ConfigurationError, InvalidInputError
from tiered.repository import CursorCodec, CursorPage, Filter, OffsetPage, Op, ReadModel, SortKey
from tiered.repository.query import ordering

pytestmark = pytest.mark.asyncio(loop_scope="session")

BY_NAME = (SortKey("name"),)
SCORE_DESC_NAME = (SortKey("score", descending=True), SortKey("name"))
SCORE_DESC_NAME_ORDER = [
    "juliet",
    "alpha",
    "charlie",
    "foxtrot",
    "bravo",
    "echo",
    "hotel",
    "golf",
    "delta",
    "india",
]


async def found_names(
    backend: Backend, filters: Sequence[Filter] = (), **options: Any
) -> list[str]:
    page = await backend.items.find(filters, sort=BY_NAME, page=OffsetPage(limit=100), **options)
    return [item.name for item in page.items]


async def walk(
    backend: Backend, sort: Sequence[SortKey], limit: int, **options: Any
) -> list[list[Any]]:
    """Every cursor page, following ``next_after`` until it is ``None``."""
    pages: list[list[Any]] = []
    after = None
    while True:
        page = await backend.items.find(
            sort=sort, page=CursorPage(limit=limit, after=after), **options
        )
        assert page.total is None
        pages.append(list(page.items))
        after = page.next_after
        if after is None:
            return pages
        assert len(pages) <= 20, "the cursor walk does not end"


# -- filters ---------------------------------------------------------------------------


async def test_eq_and_ne(backend: Backend, catalog: Catalog) -> None:
    assert await found_names(backend, [Filter.eq("status", "open")]) == [
        "alpha",
        "delta",
        "golf",
        "juliet",
    ]
    assert await found_names(backend, [Filter("status", Op.NE, "open")]) == [
        "bravo",
        "charlie",
        "echo",
        "foxtrot",
        "hotel",
        "india",
    ]
    assert await found_names(backend, [Filter.eq("owner_id", catalog.bob.id)]) == [
        "bravo",
        "delta",
        "foxtrot",
        "hotel",
        "juliet",
    ]
    assert await found_names(backend, [Filter.eq("score", Decimal("3.5000"))]) == [
        "bravo",
        "echo",
        "hotel",
    ]


async def test_eq_none_matches_nothing_and_ne_none_matches_everything(
    backend: Backend, catalog: Catalog
) -> None:
    assert await found_names(backend, [Filter.eq("status", None)]) == []
    assert len(await found_names(backend, [Filter("status", Op.NE, None)])) == 10


async def test_range_operators(backend: Backend, catalog: Catalog) -> None:
    three_and_a_half = Decimal("3.5")
    assert await found_names(backend, [Filter("score", Op.LT, three_and_a_half)]) == [
        "delta",
        "golf",
        "india",
    ]
    assert await found_names(backend, [Filter("score", Op.LTE, three_and_a_half)]) == [
        "bravo",
        "delta",
        "echo",
        "golf",
        "hotel",
        "india",
    ]
    assert await found_names(backend, [Filter("score", Op.GT, Decimal("5.25"))]) == ["juliet"]
    assert await found_names(backend, [Filter("score", Op.GTE, Decimal("5.25"))]) == [
        "alpha",
        "charlie",
        "foxtrot",
        "juliet",
    ]
    assert await found_names(backend, [Filter("name", Op.LT, "c")]) == ["alpha", "bravo"]


async def test_datetime_range(backend: Backend, catalog: Catalog) -> None:
    window = [
        Filter("created_at", Op.GTE, BASE_TIME + timedelta(hours=5)),
        Filter("created_at", Op.LT, BASE_TIME + timedelta(hours=8)),
    ]
    assert await found_names(backend, window) == ["foxtrot", "golf", "hotel"]


async def test_in(backend: Backend, catalog: Catalog) -> None:
    assert await found_names(backend, [Filter.in_("name", ["hotel", "alpha", "zulu"])]) == [
        "alpha",
        "hotel",
    ]
    assert await found_names(backend, [Filter.in_("name", [])]) == []
    assert len(await found_names(backend, [Filter.in_("owner_id", {catalog.ada.id})])) == 5
    scores = [Decimal("1"), Decimal("8")]
    assert await found_names(backend, [Filter.in_("score", scores)]) == [
        "delta",
        "india",
        "juliet",
    ]


async def test_filters_combine_with_and(backend: Backend, catalog: Catalog) -> None:
    filters = [
        Filter.eq("owner_id", catalog.ada.id),
        Filter("score", Op.GTE, Decimal("3")),
        Filter("status", Op.NE, "draft"),
    ]
    assert await found_names(backend, filters) == ["alpha", "echo"]


async def test_contains_is_case_insensitive(backend: Backend, catalog: Catalog) -> None:
    assert await found_names(backend, [Filter("name", Op.CONTAINS, "HARL")]) == ["charlie"]
    assert await found_names(backend, [Filter("name", Op.CONTAINS, "o")]) == [
        "bravo",
        "echo",
        "foxtrot",
        "golf",
        "hotel",
    ]


async def test_contains_treats_like_wildcards_literally(backend: Backend, catalog: Catalog) -> None:
    for name in ("50% off", "500 off", "snake_case", "snakexcase", "back\\slash", "backxslash"):
        await backend.items.create(new_item(catalog.ada, name))
    await backend.reload()
    assert await found_names(backend, [Filter("name", Op.CONTAINS, "50%")]) == ["50% off"]
    assert await found_names(backend, [Filter("name", Op.CONTAINS, "e_c")]) == ["snake_case"]
    assert await found_names(backend, [Filter("name", Op.CONTAINS, "%")]) == ["50% off"]
    assert await found_names(backend, [Filter("name", Op.CONTAINS, "k\\s")]) == ["back\\slash"]
    assert await found_names(backend, search="0%") == ["50% off"]
    assert await found_names(backend, search="_") == ["snake_case"]


# -- search ----------------------------------------------------------------------------


async def test_search_matches_the_search_fields(backend: Backend, catalog: Catalog) -> None:
    assert await found_names(backend, search="LI") == ["charlie", "juliet"]
    assert await found_names(backend, [Filter.eq("status", "open")], search="li") == ["juliet"]
    assert await found_names(backend, search="nothing like it") == []
    page = await backend.items.find(search="A", sort=BY_NAME, page=OffsetPage(limit=2))
    assert [item.name for item in page.items] == ["alpha", "bravo"]
    assert page.total == 5  # alpha, bravo, charlie, delta, india


# -- sort ------------------------------------------------------------------------------


async def test_multi_key_sort_with_mixed_directions(backend: Backend, catalog: Catalog) -> None:
    page = await backend.items.find(sort=SCORE_DESC_NAME)
    assert [item.name for item in page.items] == SCORE_DESC_NAME_ORDER
    page = await backend.items.find(sort=[SortKey("score"), SortKey("created_at", True)])
    assert [item.name for item in page.items] == [
        "india",
        "delta",
        "golf",
        "hotel",
        "echo",
        "bravo",
        "foxtrot",
        "charlie",
        "alpha",
        "juliet",
    ]


async def test_ties_are_broken_by_id_in_the_last_key_direction(
    backend: Backend, catalog: Catalog
) -> None:
    expected = sorted(catalog.rows, key=lambda row: (row.score, row.id), reverse=True)
    page = await backend.items.find(sort=[SortKey("score", descending=True)])
    assert [item.id for item in page.items] == [row.id for row in expected]
    expected = sorted(catalog.rows, key=lambda row: (row.score, row.id))
    page = await backend.items.find(sort=[SortKey("score")])
    assert [item.id for item in page.items] == [row.id for row in expected]


async def test_default_order_is_by_id_and_id_can_be_sorted_on(
    backend: Backend, catalog: Catalog
) -> None:
    ids = sorted(row.id for row in catalog.rows)
    assert [item.id for item in (await backend.items.find()).items] == ids
    page = await backend.items.find(sort=[SortKey("id", descending=True)])
    assert [item.id for item in page.items] == ids[::-1]


# -- offset pages ----------------------------------------------------------------------


async def test_offset_pages_carry_items_and_total(backend: Backend, catalog: Catalog) -> None:
    seen: list[str] = []
    for offset in (0, 4, 8):
        with backend.count_statements() as statements:
            page = await backend.items.find(sort=BY_NAME, page=OffsetPage(limit=4, offset=offset))
        if backend.is_sql:
            (sql,) = statements.statements  # the total is a COUNT(*) subquery, not a window
            assert "COUNT(*)" in sql.upper()
            assert " OVER " not in sql.upper()
        assert (page.total, page.offset, page.limit) == (10, offset, 4)
        seen += [item.name for item in page.items]
        if offset + 4 < 10:
            assert page.next_after == (page.items[-1].name, page.items[-1].id)
            after = await backend.items.find(
                sort=BY_NAME, page=CursorPage(limit=4, after=page.next_after)
            )
            following = await backend.items.find(
                sort=BY_NAME, page=OffsetPage(limit=4, offset=offset + 4)
            )
            assert [item.id for item in after.items] == [item.id for item in following.items]
        else:
            assert page.next_after is None
    assert seen == sorted(row.name for row in catalog.rows)


async def test_a_page_past_the_last_row_still_has_the_total(
    backend: Backend, catalog: Catalog
) -> None:
    with backend.count_statements() as statements:
        page = await backend.items.find(sort=BY_NAME, page=OffsetPage(limit=4, offset=12))
    assert (page.items, page.total, page.next_after) == ([], 10, None)
    if backend.is_sql:
        assert statements.count == 2, "no row carries the total: the count runs on its own"
    filtered = await backend.items.find(
        [Filter.eq("name", "no such name")], page=OffsetPage(limit=4, offset=0)
    )
    assert (filtered.items, filtered.total) == ([], 0)


async def test_offset_pages_total_counts_the_filtered_rows(
    backend: Backend, catalog: Catalog
) -> None:
    open_items = [Filter.eq("status", "open")]
    page = await backend.items.find(open_items, sort=BY_NAME, page=OffsetPage(limit=3))
    assert [item.name for item in page.items] == ["alpha", "delta", "golf"]
    assert page.total == 4
    page = await backend.items.find(open_items, sort=BY_NAME, page=OffsetPage(3, 3))
    assert [item.name for item in page.items] == ["juliet"]
    assert page.total == 4


async def test_an_offset_past_the_end_is_empty_with_the_right_total(
    backend: Backend, catalog: Catalog
) -> None:
    page = await backend.items.find(page=OffsetPage(limit=5, offset=50))
    assert (list(page.items), page.total, page.offset) == ([], 10, 50)
    page = await backend.items.find(
        [Filter.eq("status", "draft")], search="o", page=OffsetPage(limit=5, offset=5)
    )
    assert (list(page.items), page.total) == ([], 1)  # foxtrot
    page = await backend.items.find([Filter.eq("status", "none")], page=OffsetPage())
    assert (list(page.items), page.total) == ([], 0)


# -- cursor pages ----------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 3, 5, 10, 100])
async def test_a_cursor_walk_returns_every_row_exactly_once(
    backend: Backend, catalog: Catalog, limit: int
) -> None:
    pages = await walk(backend, SCORE_DESC_NAME, limit)
    assert [item.name for page in pages for item in page] == SCORE_DESC_NAME_ORDER
    assert len(pages) == -(-10 // limit)
    assert all(len(page) == limit for page in pages[:-1])


async def test_a_cursor_walk_with_repeated_keys_uses_the_id(
    backend: Backend, catalog: Catalog
) -> None:
    expected = sorted(catalog.rows, key=lambda row: (row.score, row.id), reverse=True)
    pages = await walk(backend, [SortKey("score", descending=True)], 2)
    assert [item.id for page in pages for item in page] == [row.id for row in expected]


async def test_a_cursor_walk_through_the_codec(backend: Backend, catalog: Catalog) -> None:
    """Positions (datetime, Decimal, str, UUID) survive the opaque cursor a client holds."""
    codec = CursorCodec("contract-secret")
    sort = [SortKey("created_at", descending=True), SortKey("score"), SortKey("name")]
    order = ordering(sort, "id")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        after = None if cursor is None else codec.decode(cursor, order)
        page = await backend.items.find(sort=sort, page=CursorPage(limit=4, after=after))
        seen += [item.name for item in page.items]
        if page.next_after is None:
            break
        cursor = codec.encode(page.next_after, order)
    assert seen == [row.name for row in reversed(catalog.rows)]


async def test_the_last_cursor_page_has_no_next(backend: Backend, catalog: Catalog) -> None:
    first = await backend.items.find(sort=SCORE_DESC_NAME, page=CursorPage(limit=9))
    assert first.next_after is not None
    last = await backend.items.find(
        sort=SCORE_DESC_NAME, page=CursorPage(limit=9, after=first.next_after)
    )
    assert [item.name for item in last.items] == ["india"]
    assert last.next_after is None
    exact = await backend.items.find(sort=SCORE_DESC_NAME, page=CursorPage(limit=10))
    assert len(exact.items) == 10
    assert exact.next_after is None
    empty = await backend.items.find(
        [Filter.eq("status", "none")], sort=SCORE_DESC_NAME, page=CursorPage(limit=10)
    )
    assert (list(empty.items), empty.next_after) == ([], None)


async def test_a_cursor_walk_survives_concurrent_inserts(
    backend: Backend, catalog: Catalog
) -> None:
    """Rows inserted ahead of the cursor are not seen, rows behind it are; none twice."""
    original = {row.id for row in catalog.rows}
    seen: list[uuid.UUID] = []
    inserted_before: list[uuid.UUID] = []
    inserted_after: list[uuid.UUID] = []
    after = None
    rounds = 0
    while True:
        page = await backend.items.find(sort=SCORE_DESC_NAME, page=CursorPage(limit=3, after=after))
        seen += [item.id for item in page.items]
        if page.next_after is None:
            break
        after = page.next_after
        rounds += 1
        if rounds > 3:
            continue
        score, name = after[0], after[1]
        ahead = [
            new_item(catalog.ada, f"zz{rounds}", score=Decimal("99")),  # before all
            new_item(catalog.ada, f"a{rounds}", score=Decimal(score)),  # same score, before
        ]
        behind = [
            new_item(catalog.bob, f"{name}z{rounds}", score=Decimal(score)),  # same score, after
            new_item(catalog.bob, f"tail{rounds}", score=Decimal("0.5")),  # after all
        ]
        await backend.items.create_many([*ahead, *behind])
        await backend.reload()
        inserted_before += [item.id for item in ahead]
        inserted_after += [item.id for item in behind]
    assert len(seen) == len(set(seen)), "a row came twice"
    assert original <= set(seen), "a row present from the start was skipped"
    assert not set(inserted_before) & set(seen)
    assert set(inserted_after) <= set(seen)
    assert len(seen) == 10 + len(inserted_after)


# -- read models and eager loading -----------------------------------------------------


async def test_into_builds_read_models_with_nested_relations(
    backend: Backend, catalog: Catalog
) -> None:
    page = await backend.items.find(
        [Filter("score", Op.GTE, Decimal("3.5"))],
        sort=SCORE_DESC_NAME,
        page=OffsetPage(limit=4),
        into=ItemSummary,
    )
    assert page.total == 7
    assert all(type(summary) is ItemSummary for summary in page.items)
    assert [summary.name for summary in page.items] == SCORE_DESC_NAME_ORDER[:4]
    owners = {catalog.ada.id: "ada", catalog.bob.id: "bob"}
    for summary in page.items:
        row = catalog.by_name(summary.name)
        assert (summary.id, summary.score, summary.status) == (row.id, row.score, row.status)
        assert type(summary.owner) is OwnerRef
        assert (summary.owner.id, summary.owner.name) == (row.owner_id, owners[row.owner_id])
    if backend.session is not None:
        assert len(backend.session.identity_map) == 0, "read models must bypass the ORM"


async def test_into_with_cursor_pages(backend: Backend, catalog: Catalog) -> None:
    pages = await walk(backend, SCORE_DESC_NAME, 4, into=ItemSummary)
    summaries = [summary for page in pages for summary in page]
    assert [summary.name for summary in summaries] == SCORE_DESC_NAME_ORDER
    assert all(type(summary) is ItemSummary for summary in summaries)
    assert {summary.owner.name for summary in summaries if summary.owner} == {"ada", "bob"}
    if backend.session is not None:
        assert len(backend.session.identity_map) == 0


async def test_find_loads_relations_by_name(backend: Backend, catalog: Catalog) -> None:
    with backend.count_statements() as statements:
        page = await backend.items.find(
            [Filter.eq("owner_id", catalog.bob.id)], sort=BY_NAME, load=["owner"]
        )
    assert [item.name for item in page.items] == ["bravo", "delta", "foxtrot", "hotel", "juliet"]
    assert all(type(item) is Item for item in page.items)
    assert {item.owner.name for item in page.items} == {"bob"}  # type: ignore[attr-defined]
    if backend.is_sql:
        assert statements.count == 2, "one query for the page, one for the owners"


# -- invalid specs ---------------------------------------------------------------------


async def expect_invalid_query(call: Any) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        await call
    assert caught.value.status == 400
    assert caught.value.code == "INVALID_QUERY"
    assert caught.value.errors
    return caught.value


async def expect_misuse(call: Any, *fragments: str) -> None:
    """A query the mapping cannot answer is our bug: a ConfigurationError, never a 400."""
    with pytest.raises(ConfigurationError) as caught:
        await call
    for fragment in fragments:
        assert fragment in caught.value.message


async def test_a_field_that_is_no_column_is_a_configuration_error(
    backend: Backend, catalog: Catalog
) -> None:
    await expect_misuse(backend.items.find([Filter.eq("secret", 1)]), "secret")
    await expect_misuse(backend.items.count_where([Filter.eq("secret", 1)]), "secret")
    await expect_misuse(backend.items.exists_where([Filter.eq("secret", 1)]), "secret")
    await expect_misuse(backend.items.find(sort=[SortKey("secret")]), "secret")


async def test_internal_lookups_are_not_held_to_the_client_allow_lists(
    backend: Backend, catalog: Catalog
) -> None:
    assert "version" not in backend.items.filter_fields
    assert "owner_id" not in backend.items.sort_fields
    assert await backend.items.count_where([Filter.eq("version", 1)]) == 10
    page = await backend.items.find(sort=[SortKey("owner_id")], page=OffsetPage(limit=100))
    assert [item.owner_id for item in page.items] == sorted(row.owner_id for row in catalog.rows)


async def test_in_needs_a_list(backend: Backend, catalog: Catalog) -> None:
    await expect_misuse(backend.items.find([Filter("status", Op.IN, "open")]), "needs a list")


async def test_an_unknown_relation_is_a_configuration_error(
    backend: Backend, catalog: Catalog
) -> None:
    await expect_misuse(backend.items.find(load=["creator"]), "creator")
    await expect_misuse(backend.items.get_one(catalog.rows[0].id, load=["creator"]), "creator")


async def test_search_without_search_fields_is_a_configuration_error(
    backend: Backend, catalog: Catalog
) -> None:
    await expect_misuse(backend.owners.find(search="ada"), "search_fields")
    await expect_misuse(backend.owners.count_where(search="ada"), "search_fields")


async def test_contains_on_a_column_that_is_not_text_is_a_configuration_error(
    backend: Backend, catalog: Catalog
) -> None:
    await expect_misuse(backend.items.find([Filter("score", Op.CONTAINS, "5")]), "not text")


async def test_a_nul_character_in_text_is_a_400_on_every_backend(
    backend: Backend, catalog: Catalog
) -> None:
    await expect_invalid_query(backend.items.count_where(search="a\x00b"))
    await expect_invalid_query(backend.items.find([Filter.eq("name", "\x00")]))
    await expect_invalid_query(backend.items.exists_where([Filter.in_("name", ["ok", "x\x00"])]))


class MisnamedSummary(ReadModel):
    id: UUID
    title: str
    creator: OwnerRef | None


async def test_a_read_model_the_mapping_cannot_fill_is_a_configuration_error(
    backend: Backend, catalog: Catalog
) -> None:
    await expect_misuse(
        backend.items.find(into=MisnamedSummary),
        "title is no column of Item",
        "creator is no many-to-one relation",
    )
