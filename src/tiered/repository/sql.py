"""``Repository[T]``: the SQLAlchemy 2 (async) repository.

Reads of entities go through the ORM (with eager loading by name); list reads
into a :class:`ReadModel` go through Core, selecting only the columns the DTO
needs. Writes flush but never commit: the unit of work owns the transaction.
Integrity and version conflicts surface here as application errors, so a
service can react to ``DuplicateResourceError`` without knowing SQL.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, delete, exists, func, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, selectinload
from sqlalchemy.sql import FromClause

from tiered.db.text import folded_contains, ordered
from tiered.errors import ConfigurationError
from tiered.repository.base import RepositoryConfig
from tiered.repository.boundary import guard_coroutines
from tiered.repository.query import (
    CursorPage,
    Filter,
    FindQuery,
    OffsetPage,
    Op,
    Page,
    SortKey,
)
from tiered.repository.read_model import ReadModel, read_model_fields

__all__ = ["Repository"]

T = TypeVar("T")


def _in(column: ColumnElement[Any], values: Collection[Any]) -> ColumnElement[bool]:
    """``IN`` that also matches NULL when ``None`` is listed, as Python's ``in`` does."""
    present = [value for value in values if value is not None]
    condition = column.in_(present)
    return or_(condition, column.is_(None)) if len(present) < len(values) else condition


_Condition = Callable[[ColumnElement[Any], Any], ColumnElement[bool]]
_OPERATORS: dict[Op, _Condition] = {
    Op.EQ: lambda column, value: column.is_(None) if value is None else column == value,
    Op.NE: lambda column, value: column.is_distinct_from(value),
    Op.LT: lambda column, value: column < value,
    Op.LTE: lambda column, value: column <= value,
    Op.GT: lambda column, value: column > value,
    Op.GTE: lambda column, value: column >= value,
    Op.IN: _in,
    Op.CONTAINS: lambda column, value: folded_contains(column, str(value)),
}
_PARAMETER_LIMITS = {"postgresql": 32_767, "sqlite": 32_766}
"""Bound parameters one statement may carry (asyncpg's and SQLite's caps)."""


@dataclass(frozen=True, slots=True)
class _ReadPlan:
    columns: tuple[ColumnElement[Any], ...]
    source: FromClause
    build: Callable[[Sequence[Any]], Any]


@cache
def _read_plan(mapper: Mapper[Any], model: type[ReadModel]) -> _ReadPlan:
    columns: list[ColumnElement[Any]] = []
    source: FromClause = mapper.local_table
    scalars: list[tuple[str, int]] = []
    nested: list[tuple[str, type[ReadModel], list[tuple[str, int]]]] = []
    for field in read_model_fields(model):
        if field.nested is None:
            scalars.append((field.name, len(columns)))
            columns.append(mapper.columns[field.name])
            continue
        relationship = mapper.relationships[field.name]
        target = relationship.mapper.local_table.alias(field.name)
        condition = and_(
            *(
                local == target.c[str(remote.key)]
                for local, remote in relationship.local_remote_pairs
            )
        )
        source = source.outerjoin(target, condition)
        target_columns = relationship.mapper.columns
        indexes = []
        for sub in read_model_fields(field.nested):
            indexes.append((sub.name, len(columns)))
            columns.append(target.c[str(target_columns[sub.name].key)])
        nested.append((field.name, field.nested, indexes))

    def build(row: Sequence[Any]) -> Any:
        values = {name: row[index] for name, index in scalars}
        for name, sub_model, indexes in nested:
            sub_values = {sub: row[index] for sub, index in indexes}
            present = any(value is not None for value in sub_values.values())
            values[name] = sub_model.trusted(sub_values) if present else None
        return model.trusted(values)

    return _ReadPlan(tuple(columns), source, build)


_SORT_FIELDS_CHECKED: set[type[Any]] = set()
_UPSERT_INSERTS: dict[str, Callable[..., postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def _check_sort_fields(repository: type[RepositoryConfig[Any]]) -> None:
    """Refuse, once per class, a nullable sort field (keyset pages cannot order NULL)."""
    if repository in _SORT_FIELDS_CHECKED:
        return
    mapper: Mapper[Any] = sa_inspect(repository.model_class)
    nullable = sorted(name for name in repository.sort_fields if mapper.columns[name].nullable)
    if nullable:
        raise ConfigurationError(
            f"{repository.__name__}.sort_fields has nullable columns: {', '.join(nullable)}"
        )
    _SORT_FIELDS_CHECKED.add(repository)


class Repository(RepositoryConfig[T], Generic[T]):
    """Subclass with ``model_class = Market`` and the allow-lists of :class:`RepositoryConfig`.

    Every coroutine method, a subclass's own included, runs inside the
    database-error boundary: a driver error leaves it as the application error
    it means (400, 409, 503, or a logged 500), never raw.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        guard_coroutines(cls)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        _check_sort_fields(type(self))

    @property
    def mapper(self) -> Mapper[Any]:
        mapper: Mapper[Any] = sa_inspect(self.model_class)
        return mapper

    def column(self, name: str) -> ColumnElement[Any]:
        return self.mapper.columns[name]

    @property
    def _id(self) -> ColumnElement[Any]:
        return self.column(self.id_field)

    async def _flush(self) -> None:
        await self.session.flush()

    # -- reads ---------------------------------------------------------------------

    async def get_by_id(self, entity_id: Any) -> T | None:
        entity: T | None = await self.session.get(self.model_class, entity_id)
        return entity

    async def get_one(self, entity_id: Any, *, load: Sequence[str] = ()) -> T:
        self.check_spec(load=load)
        if not load:
            entity = await self.get_by_id(entity_id)
        else:
            statement = select(self.model_class).where(self._id == entity_id)
            statement = statement.options(*self._eager(load))
            entity = (await self.session.execute(statement)).scalar_one_or_none()
        if entity is None:
            raise self.not_found(entity_id)
        return entity

    async def get_all(self) -> list[T]:
        statement = select(self.model_class).order_by(self._id)
        return list((await self.session.scalars(statement)).all())

    async def list_paginated(self, skip: int = 0, limit: int = 100) -> list[T]:
        statement = select(self.model_class).order_by(self._id).offset(skip).limit(limit)
        return list((await self.session.scalars(statement)).all())

    async def get_many(self, ids: Iterable[Any]) -> list[T]:
        """One ``IN`` query, or one per chunk when the ids exceed the driver's parameter cap."""
        wanted = list(dict.fromkeys(ids))
        dialect = self.session.get_bind().dialect.name
        size = _PARAMETER_LIMITS.get(dialect, 999) - 1
        found: list[T] = []
        for start in range(0, len(wanted), size):
            chunk = wanted[start : start + size]
            statement = select(self.model_class).where(self._id.in_(chunk)).order_by(self._id)
            found += (await self.session.scalars(statement)).all()
        if len(wanted) > size:
            found.sort(key=operator.attrgetter(self.id_field))
        return found

    async def exists(self, entity_id: Any) -> bool:
        """``SELECT EXISTS`` by id."""
        self.check_id(entity_id, "exists")
        statement = select(exists().where(self._id == entity_id))
        return bool((await self.session.execute(statement)).scalar())

    async def count(self) -> int:
        return await self.count_where()

    async def exists_where(
        self, filters: Sequence[Filter] = (), *, search: str | None = None
    ) -> bool:
        self.check_spec(filters, search=search)
        condition = exists().where(*self._conditions(filters, search))
        statement = select(condition.select_from(self.mapper.local_table))
        return bool((await self.session.execute(statement)).scalar())

    async def count_where(
        self, filters: Sequence[Filter] = (), *, search: str | None = None
    ) -> int:
        self.check_spec(filters, search=search)
        statement = select(func.count()).select_from(self.mapper.local_table)
        statement = statement.where(*self._conditions(filters, search))
        return int((await self.session.execute(statement)).scalar_one())

    async def _find(self, query: FindQuery) -> Page[Any]:
        """One statement per page (plus one per eager-loaded relation)."""
        filters, search, order, page = query.filters, query.search, query.order, query.page
        load, into = query.load, query.into
        order_columns = [self.column(key.field) for key in order]
        if into is None:
            statement: Select[Any] = select(self.model_class).options(*self._eager(load))
            build: Callable[[Sequence[Any]], Any] = operator.itemgetter(0)
            key_offset = 1
        else:
            plan = _read_plan(self.mapper, into)
            statement = select(*plan.columns).select_from(plan.source)
            build = plan.build
            key_offset = len(plan.columns)
        statement = statement.add_columns(*order_columns).where(*self._conditions(filters, search))
        statement = statement.order_by(
            *(
                ordered(column).desc() if key.descending else ordered(column).asc()
                for key, column in zip(order, order_columns, strict=True)
            )
        )
        if isinstance(page, CursorPage):
            return await self._cursor_page(statement, order, page, build, key_offset)
        return await self._offset_page(
            statement, (filters, search), page, build, slice(key_offset, key_offset + len(order))
        )

    async def _offset_page(
        self,
        statement: Select[Any],
        where: tuple[Sequence[Filter], str | None],
        page: OffsetPage,
        build: Callable[[Sequence[Any]], Any],
        keys: slice,
    ) -> Page[Any]:
        """Rows and total in one statement (a window count over the filtered rows)."""
        statement = statement.add_columns(func.count().over()).offset(page.offset).limit(page.limit)
        rows = (await self.session.execute(statement)).all()
        if rows:
            total = int(rows[0][-1])
        elif page.offset:
            total = await self.count_where(where[0], search=where[1])
        else:
            total = 0
        more = page.offset + len(rows) < total
        return Page(
            [build(row) for row in rows],
            page.limit,
            total=total,
            offset=page.offset,
            next_after=tuple(rows[-1][keys]) if more and rows else None,
        )

    async def _cursor_page(
        self,
        statement: Select[Any],
        order: Sequence[SortKey],
        page: CursorPage,
        build: Callable[[Sequence[Any]], Any],
        key_offset: int,
    ) -> Page[Any]:
        if page.after is not None:
            statement = statement.where(self._after(order, page.after))
        rows = (await self.session.execute(statement.limit(page.limit + 1))).all()
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        next_after = tuple(rows[-1][key_offset : key_offset + len(order)]) if more else None
        return Page([build(row) for row in rows], page.limit, next_after=next_after)

    # -- writes (flush, never commit) ---------------------------------------------------

    async def create(self, entity: T) -> T:
        self.session.add(entity)
        await self._flush()
        return entity

    async def create_many(self, entities: Iterable[T]) -> list[T]:
        """One flush: SQLAlchemy batches the INSERTs (``insertmanyvalues``)."""
        batch = list(entities)
        self.session.add_all(batch)
        await self._flush()
        return batch

    async def update(self, entity: T) -> T:
        """Flush changes of a loaded entity; a concurrent write is a ``StaleVersionError``.

        An entity that was never stored is a 404, not a silent INSERT.
        """
        if sa_inspect(entity).transient:
            raise self.not_found(getattr(entity, self.id_field))
        self.session.add(entity)
        await self._flush()
        return entity

    async def merge(self, entity: T) -> T:
        """Copy a detached entity onto the stored row; a stale version is a conflict."""
        merged = await self.session.merge(entity)
        await self._flush()
        return merged

    async def save(self, entity: T) -> T:
        """Insert or update in one statement (``INSERT … ON CONFLICT DO UPDATE``)."""
        values = {
            attribute.key: getattr(entity, attribute.key) for attribute in self.mapper.column_attrs
        }
        if self.version_field is not None:
            values[self.version_field] = 1
        dialect = self.session.get_bind().dialect.name
        insert = _UPSERT_INSERTS.get(dialect)
        if insert is None:
            raise ConfigurationError(f"save() needs ON CONFLICT support; {dialect} has none here")
        statement = insert(self.model_class).values(**values)
        keys = [str(column.key) for column in self.mapper.primary_key]
        updates: dict[str, Any] = {
            attribute.key: statement.excluded[attribute.columns[0].name]
            for attribute in self.mapper.column_attrs
            if attribute.key not in keys and attribute.key != self.version_field
        }
        if self.version_field is not None:
            updates[self.version_field] = self.column(self.version_field) + 1
        statement = statement.on_conflict_do_update(index_elements=keys, set_=updates)
        returning = statement.returning(self.model_class)
        result = await self.session.execute(
            returning, execution_options={"populate_existing": True}
        )
        saved: T = result.scalar_one()
        return saved

    async def delete(self, entity: T) -> None:
        """Delete the row of ``entity``; a never-stored one is a 404, a stale one a 409."""
        if sa_inspect(entity).transient:
            raise self.not_found(getattr(entity, self.id_field))
        await self.session.delete(entity)
        await self._flush()

    async def delete_by_id(self, entity_id: Any) -> bool:
        statement = delete(self.model_class).where(self._id == entity_id)
        result = await self.session.execute(
            statement, execution_options={"synchronize_session": "fetch"}
        )
        return bool(getattr(result, "rowcount", 0))

    # -- building blocks ----------------------------------------------------------------

    def _eager(self, load: Sequence[str]) -> list[Any]:
        return [selectinload(getattr(self.model_class, name)) for name in load]

    def _conditions(
        self, filters: Sequence[Filter], search: str | None
    ) -> list[ColumnElement[bool]]:
        conditions = [self._condition(item) for item in filters]
        if search:
            conditions.append(
                or_(*(folded_contains(self.column(name), search) for name in self.search_fields))
            )
        return conditions

    def _condition(self, item: Filter) -> ColumnElement[bool]:
        return _OPERATORS[item.op](self.column(item.field), item.value)

    def _after(self, order: Sequence[SortKey], position: Sequence[Any]) -> ColumnElement[bool]:
        """Rows strictly after ``position`` in ``order`` (keyset predicate)."""
        branches = []
        for index, key in enumerate(order):
            equal = [
                self.column(previous.field) == value
                for previous, value in zip(order[:index], position[:index], strict=True)
            ]
            column = ordered(self.column(key.field))
            beyond = column < position[index] if key.descending else column > position[index]
            branches.append(and_(*equal, beyond))
        return or_(*branches)


guard_coroutines(Repository)
