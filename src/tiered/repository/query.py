"""Query specifications shared by every repository backend.

A spec is plain data (filters, sort keys, a page request), so the SQL and
in-memory repositories can be held to the same semantics by one contract suite,
and the HTTP layer can build specs without knowing which backend runs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from tiered.errors import FieldError, InvalidInputError
from tiered.repository.read_model import ReadModel

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_OFFSET",
    "MAX_PAGE_SIZE",
    "CursorPage",
    "Filter",
    "FindQuery",
    "Increment",
    "OffsetPage",
    "Op",
    "Page",
    "PageRequest",
    "SortKey",
    "ordering",
    "parse_sort",
]

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_OFFSET = 1_000_000
"""Deeper than this, walk with a cursor: an offset makes the database skip every row."""


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    IN = "in"
    CONTAINS = "contains"
    """Case-insensitive substring match on a text field."""


@dataclass(frozen=True, slots=True)
class Filter:
    field: str
    op: Op
    value: Any

    @classmethod
    def eq(cls, field: str, value: Any) -> Filter:
        return cls(field, Op.EQ, value)

    @classmethod
    def in_(cls, field: str, values: Collection[Any]) -> Filter:
        return cls(field, Op.IN, tuple(values))


@dataclass(frozen=True, slots=True)
class Increment:
    """An ``update_where`` value: the column plus ``amount``, computed by the database."""

    amount: Any


@dataclass(frozen=True, slots=True)
class SortKey:
    field: str
    descending: bool = False

    def __str__(self) -> str:
        return f"-{self.field}" if self.descending else self.field


def parse_sort(text: str | None, allowed: Collection[str]) -> tuple[SortKey, ...]:
    """``"-volume,created_at"`` → sort keys; an unknown or repeated field is a 400."""
    if not text:
        return ()
    keys: list[SortKey] = []
    for raw in text.split(","):
        token = raw.strip()
        name = token.removeprefix("-").removeprefix("+")
        if name not in allowed or any(key.field == name for key in keys):
            raise InvalidInputError(
                f"Cannot sort by {name!r}; allowed: {', '.join(sorted(allowed))}.",
                code="INVALID_SORT",
                errors=[FieldError("/sort", f"unknown or repeated field {name!r}", "query")],
            )
        keys.append(SortKey(name, descending=token.startswith("-")))
    return tuple(keys)


def _check_limit(limit: int, max_limit: int) -> None:
    if not 1 <= limit <= max_limit:
        raise InvalidInputError(
            f"limit must be between 1 and {max_limit}.",
            code="INVALID_PAGE",
            errors=[FieldError("/limit", f"must be between 1 and {max_limit}", "query")],
        )


@dataclass(frozen=True, slots=True)
class OffsetPage:
    """Rows ``offset … offset+limit``, and the total from a separate ``COUNT(*)``."""

    limit: int = DEFAULT_PAGE_SIZE
    offset: int = 0
    max_limit: int = MAX_PAGE_SIZE

    def __post_init__(self) -> None:
        _check_limit(self.limit, self.max_limit)
        if not 0 <= self.offset <= MAX_OFFSET:
            raise InvalidInputError(
                f"offset must be between 0 and {MAX_OFFSET}; use the cursor to go deeper.",
                code="INVALID_PAGE",
                errors=[FieldError("/offset", f"must be between 0 and {MAX_OFFSET}", "query")],
            )


@dataclass(frozen=True, slots=True)
class CursorPage:
    """Rows strictly after ``after`` (the sort-key values of the previous page's last row).

    Keyset pagination: stable under concurrent inserts and as fast on page 1,000
    as on page 1. ``after`` comes decoded; see :class:`~tiered.repository.CursorCodec`.
    """

    limit: int = DEFAULT_PAGE_SIZE
    after: tuple[Any, ...] | None = None
    max_limit: int = MAX_PAGE_SIZE

    def __post_init__(self) -> None:
        _check_limit(self.limit, self.max_limit)


PageRequest = OffsetPage | CursorPage


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results.

    Offset pages carry ``total`` and ``offset``. Both kinds carry ``next_after``,
    the sort-key values of the last row (``None`` on the last page): a keyset walk
    can continue from any page, offset pages included.
    """

    items: Sequence[T]
    limit: int
    total: int | None = None
    offset: int | None = None
    next_after: tuple[Any, ...] | None = None
    order: tuple[SortKey, ...] = ()
    """The full order the page was read in (the id last): what ``next_after`` is a position in."""


@dataclass(frozen=True, slots=True)
class FindQuery:
    """A validated ``find`` call, as the backends receive it."""

    filters: tuple[Filter, ...]
    search: str | None
    order: tuple[SortKey, ...]
    """The full ordering: requested keys, then the id."""
    page: PageRequest
    load: tuple[str, ...]
    into: type[ReadModel] | None


def ordering(sort: Sequence[SortKey], id_field: str) -> tuple[SortKey, ...]:
    """The full ordering: the requested keys, then the id as a unique tie-breaker.

    The id runs in the direction of the last key, so one index on ``(key, id)``
    serves the sort both ways without a sort step.
    """
    if any(key.field == id_field for key in sort):
        return tuple(sort)
    return (*sort, SortKey(id_field, descending=bool(sort) and sort[-1].descending))
