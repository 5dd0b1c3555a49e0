"""``InMemoryRepository[T]``: the repository protocol over dicts, for unit tests.

It keeps *copies*: reads return copies and writes store copies, so a stale
update is detected exactly as the SQL version check detects it, and a rolled
back unit of work can restore a snapshot. It passes the same contract suite as
the SQL repository; only declared ``unique_fields`` stand in for constraints.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from tiered.errors import DuplicateResourceError, StaleVersionError
from tiered.repository.base import RepositoryConfig
from tiered.repository.query import (
    CursorPage,
    Filter,
    FindQuery,
    Op,
    Page,
    SortKey,
)

__all__ = ["InMemoryRepository", "InMemoryStore"]

T = TypeVar("T")


def _contains(value: Any, needle: Any) -> bool:
    return value is not None and str(needle).casefold() in str(value).casefold()


_PREDICATES: dict[Op, Callable[[Any, Any], bool]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.LT: lambda value, bound: value is not None and value < bound,
    Op.LTE: lambda value, bound: value is not None and value <= bound,
    Op.GT: lambda value, bound: value is not None and value > bound,
    Op.GTE: lambda value, bound: value is not None and value >= bound,
    Op.IN: lambda value, bound: value in bound,
    Op.CONTAINS: _contains,
}


class InMemoryStore:
    """Rows of every model, shared by the repositories of one fake unit of work."""

    def __init__(self) -> None:
        self.tables: dict[type[Any], dict[Any, Any]] = {}

    def table(self, model: type[Any]) -> dict[Any, Any]:
        return self.tables.setdefault(model, {})

    def snapshot(self) -> dict[type[Any], dict[Any, Any]]:
        return {model: dict(rows) for model, rows in self.tables.items()}

    def restore(self, snapshot: dict[type[Any], dict[Any, Any]]) -> None:
        self.tables = snapshot


class InMemoryRepository(RepositoryConfig[T], Generic[T]):
    """``foreign_keys`` maps a relation name to ``(target model, local key attribute)``."""

    unique_fields: ClassVar[tuple[tuple[str, ...], ...]] = ()
    foreign_keys: ClassVar[Mapping[str, tuple[type[Any], str]]] = {}

    def __init__(self, store: InMemoryStore | None = None) -> None:
        self.store = store or InMemoryStore()

    @property
    def rows(self) -> dict[Any, T]:
        return self.store.table(self.model_class)

    def _key(self, entity: T) -> Any:
        return getattr(entity, self.id_field)

    def _out(self, entity: T, load: Sequence[str] = ()) -> T:
        result = copy.copy(entity)
        for name in load:
            setattr(result, name, self._related(entity, name))
        return result

    def _related(self, entity: Any, name: str) -> Any:
        model, key_attribute = self.foreign_keys[name]
        related = self.store.table(model).get(getattr(entity, key_attribute))
        return copy.copy(related) if related is not None else None

    def _check_unique(self, entity: T, *, ignore: Any = None) -> None:
        for fields in self.unique_fields:
            values = tuple(getattr(entity, name) for name in fields)
            for key, row in self.rows.items():
                if key != ignore and tuple(getattr(row, name) for name in fields) == values:
                    raise DuplicateResourceError(
                        "A resource with the same unique value already exists.",
                        details={"constraint": ",".join(fields)},
                    )

    def _check_version(self, entity: T, stored: T) -> None:
        """Like the SQL version check: writing over a newer row is a conflict."""
        if self.version_field is None:
            return
        if getattr(entity, self.version_field) != getattr(stored, self.version_field):
            raise StaleVersionError(
                f"{self.entity_name()} was changed by another writer; re-read it and retry."
            )

    def _unchanged(self, entity: T, stored: T) -> bool:
        """No column differs: the SQL session then writes nothing and keeps the version."""
        try:
            mine, theirs = vars(entity), vars(stored)
        except TypeError:
            return False

        def columns(values: dict[str, Any]) -> dict[str, Any]:
            return {
                name: value
                for name, value in values.items()
                if not name.startswith("_") and name not in self.relations
            }

        return columns(mine) == columns(theirs)

    def _store(self, entity: T) -> None:
        self.rows[self._key(entity)] = copy.copy(entity)

    # -- reads ---------------------------------------------------------------------

    async def get_by_id(self, entity_id: Any) -> T | None:
        row = self.rows.get(entity_id)
        return self._out(row) if row is not None else None

    async def get_one(self, entity_id: Any, *, load: Sequence[str] = ()) -> T:
        self.check_spec(load=load)
        row = self.rows.get(entity_id)
        if row is None:
            raise self.not_found(entity_id)
        return self._out(row, load)

    async def get_all(self) -> list[T]:
        return [self._out(row) for _, row in sorted(self.rows.items())]

    async def list_paginated(self, skip: int = 0, limit: int = 100) -> list[T]:
        return (await self.get_all())[skip : skip + limit]

    async def get_many(self, ids: Iterable[Any]) -> list[T]:
        wanted = set(ids)
        return [self._out(row) for key, row in sorted(self.rows.items()) if key in wanted]

    async def exists(self, filters: Sequence[Filter] = ()) -> bool:
        self.check_spec(filters)
        return any(self._matches(row, filters, None) for row in self.rows.values())

    async def count(self, filters: Sequence[Filter] = (), *, search: str | None = None) -> int:
        self.check_spec(filters, search=search)
        return sum(1 for row in self.rows.values() if self._matches(row, filters, search))

    async def _find(self, query: FindQuery) -> Page[Any]:
        filters, search, order, page = query.filters, query.search, query.order, query.page
        load, into = query.load, query.into
        rows = [row for row in self.rows.values() if self._matches(row, filters, search)]
        for key in reversed(order):
            rows.sort(key=operator.attrgetter(key.field), reverse=key.descending)
        loads = tuple(load) if into is None else tuple(self.foreign_keys)

        def build(row: T) -> Any:
            entity = self._out(row, loads)
            return entity if into is None else into.from_object(entity)

        if isinstance(page, CursorPage):
            if page.after is not None:
                rows = [row for row in rows if _after(row, order, page.after)]
            window = rows[: page.limit + 1]
            more = len(window) > page.limit
            window = window[: page.limit]
            next_after = tuple(getattr(window[-1], key.field) for key in order) if more else None
            return Page([build(row) for row in window], page.limit, next_after=next_after)
        window = rows[page.offset : page.offset + page.limit]
        more = page.offset + len(window) < len(rows)
        next_after = (
            tuple(getattr(window[-1], key.field) for key in order) if more and window else None
        )
        return Page(
            [build(row) for row in window],
            page.limit,
            total=len(rows),
            offset=page.offset,
            next_after=next_after,
        )

    def _matches(self, row: T, filters: Sequence[Filter], search: str | None) -> bool:
        if not all(_PREDICATES[item.op](getattr(row, item.field), item.value) for item in filters):
            return False
        return not search or any(
            _contains(getattr(row, name), search) for name in self.search_fields
        )

    # -- writes ----------------------------------------------------------------------

    async def create(self, entity: T) -> T:
        key = self._key(entity)
        if key in self.rows:
            raise DuplicateResourceError(
                "A resource with the same unique value already exists.",
                details={"constraint": self.id_field},
            )
        self._check_unique(entity)
        if self.version_field is not None:
            setattr(entity, self.version_field, 1)
        self._store(entity)
        return entity

    async def create_many(self, entities: Iterable[T]) -> list[T]:
        return [await self.create(entity) for entity in entities]

    async def update(self, entity: T) -> T:
        key = self._key(entity)
        stored = self.rows.get(key)
        if stored is None:
            raise self.not_found(key)
        self._check_version(entity, stored)
        if self._unchanged(entity, stored):
            return entity
        if self.version_field is not None:
            setattr(entity, self.version_field, getattr(stored, self.version_field) + 1)
        self._check_unique(entity, ignore=key)
        self._store(entity)
        return entity

    async def merge(self, entity: T) -> T:
        stored = self.rows.get(self._key(entity))
        if stored is not None:
            self._check_version(entity, stored)
            if self._unchanged(entity, stored):
                return self._out(stored)
        return await self.save(entity)

    async def save(self, entity: T) -> T:
        key = self._key(entity)
        stored = self.rows.get(key)
        self._check_unique(entity, ignore=key)
        if self.version_field is not None:
            version = 1 if stored is None else getattr(stored, self.version_field) + 1
            setattr(entity, self.version_field, version)
        self._store(entity)
        return self._out(entity)

    async def delete(self, entity: T) -> None:
        stored = self.rows.get(self._key(entity))
        if stored is not None:
            self._check_version(entity, stored)
        self.rows.pop(self._key(entity), None)

    async def delete_by_id(self, entity_id: Any) -> bool:
        return self.rows.pop(entity_id, None) is not None


def _after(row: Any, order: Sequence[SortKey], position: Sequence[Any]) -> bool:
    for index, key in enumerate(order):
        value, bound = getattr(row, key.field), position[index]
        if value != bound:
            return bool(value < bound) if key.descending else bool(value > bound)
    return False
