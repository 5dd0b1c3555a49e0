"""The in-memory backend of :class:`~tiered.repository.Repository`.

It behaves as the SQL backend does inside a session: one object per id (the
identity map of :class:`InMemorySession`), changes to loaded objects written
at the next flush, writes visible to other sessions only after commit. The
mapping's unique constraints and relationships are enforced and followed as
the database would. It passes the same contract suite as the SQL backend.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tiered.db.text import text_contains
from tiered.errors import DuplicateResourceError, StaleVersionError
from tiered.repository.memory_session import (
    InMemorySession,
    Key,
    TableSpec,
    column_state,
)
from tiered.repository.query import CursorPage, Filter, FindQuery, Increment, Op, Page, SortKey

if TYPE_CHECKING:
    from tiered.repository.repository import Repository

__all__ = ["MemoryBackend"]


def _contains(value: Any, needle: Any) -> bool:
    return value is not None and text_contains(str(value), str(needle))


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


class MemoryBackend:
    """Runs a repository's operations on one :class:`InMemorySession`."""

    def __init__(self, session: InMemorySession, owner: Repository[Any]) -> None:
        self.session = session
        self.store = session.store
        self.owner = owner
        declaration = owner.declaration()
        self.model_class: type[Any] = owner.model_class
        self.id_field = declaration.id_field
        self.version_field = declaration.version_field
        self.search_fields = owner.search_fields
        self.foreign_keys = {
            name: (relation.target, relation.local_key)
            for name, relation in declaration.relations.items()
        }
        self.relations = frozenset(self.foreign_keys)
        self.store.declare(
            self.model_class,
            TableSpec(self.id_field, self.version_field, declaration.unique, self.relations),
        )

    @property
    def rows(self) -> dict[Any, Any]:
        return self.session.rows(self.model_class)

    def stored(self, entity_id: Any) -> Any:
        return self.session.row(self._at(entity_id))

    def entity_name(self) -> str:
        return self.owner.entity_name()

    def not_found(self, entity_id: Any) -> Exception:
        return self.owner.not_found(entity_id)

    def _at(self, entity_id: Any) -> Key:
        return (self.model_class, entity_id)

    def _id_of(self, entity: Any) -> Any:
        return getattr(entity, self.id_field)

    def _after_write(self) -> None:
        if self.session.autocommit:
            self.session.commit()

    def _entity(self, entity_id: Any, row: Any, load: Sequence[str] = ()) -> Any:
        entity = self.session.entity(self._at(entity_id), row)
        for name in load:
            model, key_attribute = self.foreign_keys[name]
            related_id = getattr(entity, key_attribute)
            related = self.session.row((model, related_id))
            value = None if related is None else self.session.entity((model, related_id), related)
            setattr(entity, name, value)
        return entity

    def _version_conflict(self) -> StaleVersionError:
        return StaleVersionError.of(self.entity_name())

    # -- reads ---------------------------------------------------------------------

    async def get(self, entity_id: Any, load: tuple[str, ...]) -> Any:
        row = self.stored(entity_id)
        return None if row is None else self._entity(entity_id, row, load)

    async def get_all(self) -> list[Any]:
        return [self._entity(key, row) for key, row in sorted(self.rows.items())]

    async def list_paginated(self, skip: int, limit: int) -> list[Any]:
        return (await self.get_all())[skip : skip + limit]

    async def get_many(self, ids: Sequence[Any]) -> list[Any]:
        wanted = set(ids)
        return [self._entity(key, row) for key, row in sorted(self.rows.items()) if key in wanted]

    async def exists(self, entity_id: Any) -> bool:
        return self.stored(entity_id) is not None

    async def exists_where(self, filters: tuple[Filter, ...], search: str | None) -> bool:
        return any(self._matches(row, filters, search) for row in self.rows.values())

    async def count_where(self, filters: tuple[Filter, ...], search: str | None) -> int:
        return sum(1 for row in self.rows.values() if self._matches(row, filters, search))

    async def find(self, query: FindQuery) -> Page[Any]:
        filters, search, order, page = query.filters, query.search, query.order, query.page
        load, into = query.load, query.into
        rows = [row for row in self.rows.values() if self._matches(row, filters, search)]
        for key in reversed(order):
            rows.sort(key=operator.attrgetter(key.field), reverse=key.descending)
        if into is None:

            def build(row: Any) -> Any:
                return self._entity(self._id_of(row), row, load)
        else:

            def build(row: Any) -> Any:
                return into.from_object(self._snapshot(row))

        if isinstance(page, CursorPage):
            if page.after is not None:
                rows = [row for row in rows if _after(row, order, page.after)]
            window = rows[: page.limit + 1]
            more = len(window) > page.limit
            window = window[: page.limit]
            next_after = tuple(getattr(window[-1], key.field) for key in order) if more else None
            return Page(
                [build(row) for row in window], page.limit, next_after=next_after, order=order
            )
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
            order=order,
        )

    def _snapshot(self, row: Any) -> Any:
        """The row and its related rows as plain attributes, for a read model."""
        values = column_state(row, frozenset(self.foreign_keys))
        for name, (model, key_attribute) in self.foreign_keys.items():
            values[name] = self.session.row((model, getattr(row, key_attribute)))
        return _Attributes(values)

    def _matches(self, row: Any, filters: Sequence[Filter], search: str | None) -> bool:
        if not all(_PREDICATES[item.op](getattr(row, item.field), item.value) for item in filters):
            return False
        return not search or any(
            _contains(getattr(row, name), search) for name in self.search_fields
        )

    # -- writes ----------------------------------------------------------------------

    async def create(self, entity: Any) -> Any:
        entity_id = self._id_of(entity)
        known = self.session.identity(self._at(entity_id))
        if self.stored(entity_id) is not None or (known is not None and known is not entity):
            raise DuplicateResourceError(
                "A resource with the same unique value already exists.",
                details={"constraint": self.id_field},
            )
        self.session.check_unique(self._at(entity_id), entity)
        self.session.flush()
        if self.version_field is not None:
            setattr(entity, self.version_field, 1)
        self.session.write(self._at(entity_id), entity)
        self.session.adopt(self._at(entity_id), entity)
        self._after_write()
        return entity

    async def create_many(self, entities: list[Any]) -> list[Any]:
        return [await self.create(entity) for entity in entities]

    async def update(self, entity: Any) -> Any:
        """Write the changes of ``entity``; a never-stored one is a 404, a stale one a 409."""
        key = self._at(self._id_of(entity))
        stored = self.session.row(key)
        if stored is None:
            raise self.not_found(key[1])
        known = self.session.identity(key)
        if known is not entity:
            if known is not None:
                self.session.forget(key)
            self._check_version(entity, stored)
            self._adopt_with_changes(key, entity, stored)
        self._check_unique_change(key, entity)
        self.session.flush()
        self._after_write()
        return entity

    def _adopt_with_changes(self, key: Key, entity: Any, stored: Any) -> None:
        """Take in a detached copy: loaded as ``stored``, its own values still to flush."""
        self.session.adopt(key, entity)
        if self.version_field is not None:
            self.session.loaded_state(key)[self.version_field] = getattr(stored, self.version_field)

    def _check_unique_change(self, key: Key, entity: Any) -> None:
        relations = frozenset(self.relations) | frozenset(self.foreign_keys)
        if column_state(entity, relations) != self.session.loaded_state(key):
            self.session.check_unique(key, entity)

    def _check_version(self, entity: Any, stored: Any) -> None:
        if self.version_field is None:
            return
        if getattr(entity, self.version_field) != getattr(stored, self.version_field):
            raise self._version_conflict()

    async def merge(self, entity: Any) -> Any:
        """Copy a detached ``entity`` onto the session's object (inserting when absent)."""
        key = self._at(self._id_of(entity))
        stored = self.session.row(key)
        if stored is None:
            return await self.create(entity)
        self._check_version(entity, stored)
        target = self._entity(key[1], stored)
        relations = frozenset(self.relations) | frozenset(self.foreign_keys)
        for name, value in column_state(entity, relations).items():
            if name != self.version_field:
                setattr(target, name, value)
        self._check_unique_change(key, target)
        self.session.flush()
        self._after_write()
        return target

    async def save(self, entity: Any) -> Any:
        """Insert or replace the row, as ``INSERT … ON CONFLICT DO UPDATE`` does."""
        key = self._at(self._id_of(entity))
        stored = self.session.row(key)
        self.session.check_unique(key, entity)
        self.session.flush()
        if self.version_field is not None:
            version = 1 if stored is None else getattr(stored, self.version_field) + 1
            setattr(entity, self.version_field, version)
        self.session.write(key, entity)
        target = self.session.identity(key)
        if target is None:
            target = self.session.entity(key, entity)
        else:
            relations = frozenset(self.relations) | frozenset(self.foreign_keys)
            for name, value in column_state(entity, relations).items():
                setattr(target, name, value)
            self.session.adopt(key, target)
        self._after_write()
        return target

    async def delete(self, entity: Any) -> None:
        """Delete the row of ``entity``; a never-stored one is a 404, a stale one a 409."""
        key = self._at(self._id_of(entity))
        stored = self.session.row(key)
        if stored is None:
            if self.session.identity(key) is entity and self.version_field is not None:
                raise self._version_conflict()
            raise self.not_found(key[1])
        known = self.session.identity(key)
        if known is entity and self.version_field is not None:
            loaded = self.session.loaded_state(key).get(self.version_field)
            if loaded != getattr(stored, self.version_field):
                raise self._version_conflict()
        elif known is not entity:
            self._check_version(entity, stored)
        self.session.flush()
        self.session.write(key, None)
        self._after_write()

    async def delete_by_id(self, entity_id: Any) -> bool:
        key = self._at(entity_id)
        if self.session.row(key) is None:
            return False
        self.session.write(key, None)
        self._after_write()
        return True

    async def update_where(self, filters: tuple[Filter, ...], values: dict[str, Any]) -> int:
        """Like the SQL ``UPDATE``: rows rewritten as copies, loaded objects left stale."""
        matching = [row for row in self.rows.values() if self._matches(row, filters, None)]
        for row in matching:
            changed = copy.copy(row)
            for name, value in values.items():
                new = getattr(row, name) + value.amount if isinstance(value, Increment) else value
                setattr(changed, name, new)
            if self.version_field is not None:
                setattr(changed, self.version_field, getattr(row, self.version_field) + 1)
            self.session.write(self._at(self._id_of(row)), changed)
        self._after_write()
        return len(matching)


class _Attributes:
    """Attribute access over a dict: what ``ReadModel.from_object`` reads from."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _after(row: Any, order: Sequence[SortKey], position: Sequence[Any]) -> bool:
    for index, key in enumerate(order):
        value, bound = getattr(row, key.field), position[index]
        if value != bound:
            return bool(value < bound) if key.descending else bool(value > bound)
    return False
