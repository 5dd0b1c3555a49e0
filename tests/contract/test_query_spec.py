"""Query specs reject bad input with 400 problems before any backend sees them."""

from __future__ import annotations

import pytest

from tiered.errors import InvalidInputError
from tiered.repository import MAX_PAGE_SIZE, CursorPage, OffsetPage, SortKey, parse_sort

ALLOWED = frozenset({"name", "score", "created_at"})


def test_parse_sort_reads_directions_in_order() -> None:
    assert parse_sort("-score,name", ALLOWED) == (
        SortKey("score", descending=True),
        SortKey("name"),
    )
    assert parse_sort(" +created_at , -name ", ALLOWED) == (
        SortKey("created_at"),
        SortKey("name", descending=True),
    )
    assert parse_sort("", ALLOWED) == ()
    assert parse_sort(None, ALLOWED) == ()
    assert str(SortKey("score", descending=True)) == "-score"


@pytest.mark.parametrize("text", ["status", "-score,status", "name,-name", "score,score", "-"])
def test_parse_sort_rejects_unknown_and_repeated_fields(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_sort(text, ALLOWED)
    assert caught.value.status == 400
    assert caught.value.code == "INVALID_SORT"
    assert caught.value.errors
    assert caught.value.errors[0].pointer == "/sort"


@pytest.mark.parametrize(
    ("make", "pointer"),
    [
        (lambda: OffsetPage(limit=0), "/limit"),
        (lambda: OffsetPage(limit=MAX_PAGE_SIZE + 1), "/limit"),
        (lambda: OffsetPage(limit=-5), "/limit"),
        (lambda: OffsetPage(offset=-1), "/offset"),
        (lambda: CursorPage(limit=0), "/limit"),
        (lambda: CursorPage(limit=101), "/limit"),
        (lambda: OffsetPage(limit=11, max_limit=10), "/limit"),
    ],
)
def test_out_of_range_pages_are_a_400(make: object, pointer: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        make()  # type: ignore[operator]
    assert caught.value.status == 400
    assert caught.value.code == "INVALID_PAGE"
    assert [error.pointer for error in caught.value.errors] == [pointer]


def test_page_bounds_are_inclusive() -> None:
    assert OffsetPage(limit=1).limit == 1
    assert OffsetPage(limit=MAX_PAGE_SIZE, offset=0).limit == 100
    assert CursorPage(limit=MAX_PAGE_SIZE).after is None
