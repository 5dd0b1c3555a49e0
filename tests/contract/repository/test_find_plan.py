"""Statements of a ``find`` are built once per shape; values only bind."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from tiered.repository import CursorPage, Filter, OffsetPage, Op, SortKey
from tiered.repository import find_plan as plans
from tiered.repository.find_plan import find_plan, find_values
from tiered.repository.query import FindQuery

from .domain import ItemRepository, ItemSummary


def _query(*filters: Filter, page: OffsetPage | CursorPage | None = None) -> FindQuery:
    order = (SortKey("score", descending=True), SortKey("id", descending=True))
    return FindQuery(tuple(filters), None, order, page or OffsetPage(), (), ItemSummary)


async def _backend() -> object:
    engine = create_async_engine("sqlite+aiosqlite://")
    return ItemRepository(AsyncSession(engine))._backend


async def test_one_statement_per_shape_whatever_the_values() -> None:
    backend = await _backend()
    first = find_plan(backend, _query(Filter.eq("status", "open"), page=OffsetPage(10, 0)))  # type: ignore[arg-type]
    second = find_plan(backend, _query(Filter.eq("status", "closed"), page=OffsetPage(50, 50)))  # type: ignore[arg-type]
    assert second is first
    assert find_values(_query(Filter.eq("status", "closed"), page=OffsetPage(50, 50))) == {
        "f0": "closed",
        "limit": 50,
        "offset": 50,
    }


async def test_null_comparisons_and_page_kinds_are_other_shapes() -> None:
    backend = await _backend()
    equal = find_plan(backend, _query(Filter.eq("status", "open")))  # type: ignore[arg-type]
    null = find_plan(backend, _query(Filter.eq("status", None)))  # type: ignore[arg-type]
    listed_null = find_plan(backend, _query(Filter("status", Op.IN, ("a", None))))  # type: ignore[arg-type]
    listed = find_plan(backend, _query(Filter("status", Op.IN, ("a", "b"))))  # type: ignore[arg-type]
    cursor = find_plan(backend, _query(Filter.eq("status", "open"), page=CursorPage(10)))  # type: ignore[arg-type]
    assert len({id(plan) for plan in (equal, null, listed_null, listed, cursor)}) == 5
    assert "IS NULL" in str(null.rows)
    assert find_values(_query(Filter("status", Op.IN, ("a", None)))) == {
        "f0": ["a"],
        "limit": 20,
        "offset": 0,
    }


async def test_the_shape_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plans, "MAX_SHAPES", 3)
    backend = await _backend()
    for field in ("name", "status", "score", "owner_id", "created_at"):
        find_plan(backend, _query(Filter.eq(field, 1)))  # type: ignore[arg-type]
    assert len(plans._PLANS) == 3
