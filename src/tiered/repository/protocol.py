"""``AsyncRepository[T]``: the contract every repository backend keeps.

This is where the semantics are written down, once; the contract suite
(``tests/contract``) holds the SQL and in-memory backends to them.

- **Sessions.** A repository works inside its session's transaction: it
  flushes, never commits. Within one session there is one object per id, and
  a change made to a loaded entity is written at the next flush, with or
  without :meth:`update`.
- **Errors.** A missing entity is a ``NotFoundError`` (404) where one is
  required (``get_one``, ``update``, ``delete``); an existing id or unique value
  is a ``DuplicateResourceError`` (409); a write over a row another writer
  changed since it was read is a ``StaleVersionError`` (409). Driver errors
  leave as the application error they mean. A field or relation the mapping
  does not have is a ``ConfigurationError``: a bug, never the client's 400.
- **Order.** Results come by id unless sorted; a sort always ends with the id,
  so pages are stable. Text sorts by code point and matches case-insensitively
  after Unicode lowercasing, on every backend.
- **Pages.** Offset pages carry ``total``; every page carries ``next_after``
  (the position of its last row, ``None`` on the last page) and the full
  ``order`` it was read in, for the next page's cursor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, overload

from tiered.repository.query import Filter, OffsetPage, Page, PageRequest, SortKey
from tiered.repository.read_model import ReadModel

__all__ = ["AsyncRepository"]

T = TypeVar("T")
R = TypeVar("R", bound=ReadModel)

_DEFAULT_PAGE = OffsetPage()


class AsyncRepository(Protocol[T]):
    async def get_by_id(self, entity_id: Any) -> T | None:
        """The entity with this id, or ``None``."""
        ...

    @overload
    async def get_one(
        self, entity_id: Any, *, load: Sequence[str] = (), into: None = None
    ) -> T: ...

    @overload
    async def get_one(self, entity_id: Any, *, load: Sequence[str] = (), into: type[R]) -> R: ...

    async def get_one(
        self, entity_id: Any, *, load: Sequence[str] = (), into: type[R] | None = None
    ) -> T | R:
        """The entity, with the relations in ``load`` eager-loaded, or the read model
        ``into`` (one query); ``NotFoundError`` when absent."""
        ...

    async def get_all(self) -> list[T]:
        """Every entity, by id (small tables only)."""
        ...

    async def list_paginated(self, skip: int = 0, limit: int = 100) -> list[T]:
        """Entities ``skip … skip+limit``, by id."""
        ...

    async def get_many(self, ids: Iterable[Any]) -> list[T]:
        """The entities of these ids that exist, by id; duplicates and missing ids ignored.
        One ``IN`` query per chunk of the driver's parameter cap."""
        ...

    async def exists(self, entity_id: Any) -> bool:
        """Whether this id exists; a filter passed here is a ``TypeError``."""
        ...

    async def count(self) -> int:
        """How many entities there are."""
        ...

    async def exists_where(
        self, filters: Sequence[Filter] = (), *, search: str | None = None
    ) -> bool:
        """Whether any entity matches the filters (and the text search)."""
        ...

    async def count_where(
        self, filters: Sequence[Filter] = (), *, search: str | None = None
    ) -> int:
        """How many entities match the filters (and the text search)."""
        ...

    @overload
    async def find(
        self,
        filters: Sequence[Filter] = (),
        *,
        search: str | None = None,
        sort: Sequence[SortKey] = (),
        page: PageRequest = _DEFAULT_PAGE,
        load: Sequence[str] = (),
        into: None = None,
    ) -> Page[T]: ...

    @overload
    async def find(
        self,
        filters: Sequence[Filter] = (),
        *,
        search: str | None = None,
        sort: Sequence[SortKey] = (),
        page: PageRequest = _DEFAULT_PAGE,
        load: Sequence[str] = (),
        into: type[R],
    ) -> Page[R]: ...

    async def find(
        self,
        filters: Sequence[Filter] = (),
        *,
        search: str | None = None,
        sort: Sequence[SortKey] = (),
        page: PageRequest = _DEFAULT_PAGE,
        load: Sequence[str] = (),
        into: type[R] | None = None,
    ) -> Page[T] | Page[R]:
        """Filter, search, sort and page: entities (``load`` eager-loads relations) or
        read models (``into``: only their columns, joins included, no ORM objects)."""
        ...

    @overload
    async def find_one(
        self, filters: Sequence[Filter], *, load: Sequence[str] = (), into: None = None
    ) -> T | None: ...

    @overload
    async def find_one(
        self, filters: Sequence[Filter], *, load: Sequence[str] = (), into: type[R]
    ) -> R | None: ...

    async def find_one(
        self, filters: Sequence[Filter], *, load: Sequence[str] = (), into: type[R] | None = None
    ) -> T | R | None:
        """The first match by id, or ``None``: one query, no count."""
        ...

    async def create(self, entity: T) -> T:
        """Insert; the version (if any) starts at 1."""
        ...

    async def create_many(self, entities: Iterable[T]) -> list[T]:
        """Insert all, batched into as few statements as the driver allows."""
        ...

    async def update(self, entity: T) -> T:
        """Write the entity's changes, bumping its version when something changed."""
        ...

    async def merge(self, entity: T) -> T:
        """Copy a detached entity onto the session's one (inserting when absent)."""
        ...

    async def save(self, entity: T) -> T:
        """Insert or replace in one statement (``INSERT … ON CONFLICT DO UPDATE``)."""
        ...

    async def delete(self, entity: T) -> None:
        """Delete the entity's row."""
        ...

    async def delete_by_id(self, entity_id: Any) -> bool:
        """Delete by id; whether a row went."""
        ...

    async def update_where(self, filters: Sequence[Filter], values: Mapping[str, Any]) -> int:
        """One atomic ``UPDATE … SET … WHERE …``: how many rows changed. An ``Increment``
        value is added by the database; the version is bumped; loaded entities stay as
        they were (stale)."""
        ...
