"""The SQL backend of :class:`~tiered.repository.Repository` (SQLAlchemy 2, async).

Reads of entities go through the ORM (with eager loading by name); reads into
a :class:`ReadModel` go through Core, selecting only the columns the DTO needs.
Writes flush but never commit: the unit of work owns the transaction.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, selectinload

from tiered.db.text import folded_contains, ordered
from tiered.errors import ConfigurationError
from tiered.repository.driver_rows import driver_statement, fetch_driver_rows
from tiered.repository.find_plan import FindPlan, find_plan, find_values
from tiered.repository.query import (
    CursorPage,
    Filter,
    FindQuery,
    Increment,
    OffsetPage,
    Op,
    Page,
    SortKey,
)
from tiered.repository.read_rows import ReadRows

__all__ = ["SqlBackend"]

if TYPE_CHECKING:
    from tiered.repository.repository import Repository


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
_UNPREPARED: Any = object()
_PARAMETER_LIMITS = {"postgresql": 32_767, "sqlite": 32_766}
"""Bound parameters one statement may carry (asyncpg's and SQLite's caps)."""


_UPSERT_INSERTS: dict[str, Callable[..., postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


class SqlBackend:
    """Runs a repository's operations on one ``AsyncSession``."""

    def __init__(self, session: AsyncSession, owner: Repository[Any]) -> None:
        self.session = session
        self.owner = owner
        self.model_class: type[Any] = owner.model_class
        self.mapper: Mapper[Any] = sa_inspect(self.model_class)
        declaration = owner.declaration()
        self.id_field = declaration.id_field
        self.version_field = declaration.version_field

    def column(self, name: str) -> ColumnElement[Any]:
        return self.mapper.columns[name]

    @property
    def _id(self) -> ColumnElement[Any]:
        return self.column(self.id_field)

    async def _flush(self) -> None:
        await self.session.flush()

    # -- reads ---------------------------------------------------------------------

    async def get(self, entity_id: Any, load: tuple[str, ...]) -> Any:
        if not load:
            return await self.session.get(self.model_class, entity_id)
        statement = select(self.model_class).where(self._id == entity_id)
        statement = statement.options(*self.eager(load))
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get_all(self) -> list[Any]:
        statement = select(self.model_class).order_by(self._id)
        return list((await self.session.scalars(statement)).all())

    async def list_paginated(self, skip: int, limit: int) -> list[Any]:
        statement = select(self.model_class).order_by(self._id).offset(skip).limit(limit)
        return list((await self.session.scalars(statement)).all())

    async def get_many(self, ids: Sequence[Any]) -> list[Any]:
        """One ``IN`` query, or one per chunk when the ids exceed the driver's parameter cap."""
        dialect = self.session.get_bind().dialect.name
        size = _PARAMETER_LIMITS.get(dialect, 999) - 1
        found: list[Any] = []
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            statement = select(self.model_class).where(self._id.in_(chunk)).order_by(self._id)
            found += (await self.session.scalars(statement)).all()
        if len(ids) > size:
            found.sort(key=operator.attrgetter(self.id_field))
        return found

    async def exists(self, entity_id: Any) -> bool:
        statement = select(exists().where(self._id == entity_id))
        return bool((await self.session.execute(statement)).scalar())

    async def exists_where(self, filters: tuple[Filter, ...], search: str | None) -> bool:
        condition = exists().where(*self._conditions(filters, search))
        statement = select(condition.select_from(self.mapper.local_table))
        return bool((await self.session.execute(statement)).scalar())

    async def count_where(self, filters: tuple[Filter, ...], search: str | None) -> int:
        statement = select(func.count()).select_from(self.mapper.local_table)
        statement = statement.where(*self._conditions(filters, search))
        return int((await self.session.execute(statement)).scalar_one())

    async def find(self, query: FindQuery) -> Page[Any]:
        """One statement per page (plus one per eager-loaded relation), built once per shape."""
        plan = find_plan(self, query)
        values = find_values(query)
        if isinstance(query.page, CursorPage):
            return await self._cursor_page(plan, values, query, query.page)
        return await self._offset_page(plan, values, query, query.page)

    async def _offset_page(
        self, plan: FindPlan, values: dict[str, Any], query: FindQuery, page: OffsetPage
    ) -> Page[Any]:
        """The rows and, in their last column, the total (see :attr:`FindPlan.rows`).

        A page past the last row has no row to carry the total: only then does
        the count run on its own.
        """
        rows = await self._rows(plan, values)
        if rows:
            total = int(rows[0][-1])
        elif page.offset == 0:
            total = 0
        else:
            total = int((await self.session.execute(plan.count, values)).scalar_one())
        more = page.offset + len(rows) < total
        return Page(
            self._items(plan, rows),
            page.limit,
            total=total,
            offset=page.offset,
            next_after=plan.keys_of(rows[-1]) if more and rows else None,
            order=query.order,
        )

    async def _rows(self, plan: FindPlan, values: dict[str, Any]) -> Sequence[Sequence[Any]]:
        """The page's rows: a read model's on the driver when it can (see ``driver_rows``)."""
        if plan.read is not None:
            dialect = self.session.get_bind().dialect
            prepared = plan.on_driver.get(dialect.name, _UNPREPARED)
            if prepared is _UNPREPARED:
                prepared = plan.on_driver[dialect.name] = driver_statement(plan.rows, dialect)
            if prepared is not None:
                fetched = await fetch_driver_rows(self.session, prepared, values)
                if fetched is not None:
                    return fetched
        rows: Sequence[Sequence[Any]] = (await self.session.execute(plan.rows, values)).all()
        return rows

    @staticmethod
    def _items(plan: FindPlan, rows: Sequence[Sequence[Any]]) -> Sequence[Any]:
        if plan.read is not None:
            return ReadRows(rows, plan.read)
        return [plan.entity(row) for row in rows]

    async def _cursor_page(
        self, plan: FindPlan, values: dict[str, Any], query: FindQuery, page: CursorPage
    ) -> Page[Any]:
        rows = await self._rows(plan, values)
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        next_after = plan.keys_of(rows[-1]) if more else None
        return Page(self._items(plan, rows), page.limit, next_after=next_after, order=query.order)

    # -- writes (flush, never commit) ---------------------------------------------------

    async def create(self, entity: Any) -> Any:
        self.session.add(entity)
        await self._flush()
        return entity

    async def create_many(self, entities: list[Any]) -> list[Any]:
        """One flush: SQLAlchemy batches the INSERTs (``insertmanyvalues``)."""
        self.session.add_all(entities)
        await self._flush()
        return entities

    async def update(self, entity: Any) -> Any:
        if sa_inspect(entity).transient:
            raise self.owner.not_found(getattr(entity, self.id_field))
        self.session.add(entity)
        await self._flush()
        return entity

    async def merge(self, entity: Any) -> Any:
        merged = await self.session.merge(entity)
        await self._flush()
        return merged

    async def save(self, entity: Any) -> Any:
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
        return result.scalar_one()

    async def delete(self, entity: Any) -> None:
        if sa_inspect(entity).transient:
            raise self.owner.not_found(getattr(entity, self.id_field))
        await self.session.delete(entity)
        await self._flush()

    async def delete_by_id(self, entity_id: Any) -> bool:
        statement = delete(self.model_class).where(self._id == entity_id)
        result = await self.session.execute(
            statement, execution_options={"synchronize_session": "fetch"}
        )
        return bool(getattr(result, "rowcount", 0))

    async def update_where(self, filters: tuple[Filter, ...], values: dict[str, Any]) -> int:
        """One ``UPDATE``: increments are computed by the database, the version bumped."""
        table: Any = self.mapper.local_table
        assignments: dict[Any, Any] = {
            self.column(name): self.column(name) + value.amount
            if isinstance(value, Increment)
            else value
            for name, value in values.items()
        }
        if self.version_field is not None:
            assignments[self.column(self.version_field)] = self.column(self.version_field) + 1
        statement = update(table).where(*self._conditions(filters, None)).values(assignments)
        result = await self.session.execute(statement)
        return int(getattr(result, "rowcount", 0))

    # -- building blocks ----------------------------------------------------------------

    @property
    def search_fields(self) -> tuple[str, ...]:
        return tuple(self.owner.search_fields)

    def eager(self, load: Sequence[str]) -> list[Any]:
        return [selectinload(getattr(self.model_class, name)) for name in load]

    def _conditions(
        self, filters: Sequence[Filter], search: str | None
    ) -> list[ColumnElement[bool]]:
        conditions = [self._condition(item) for item in filters]
        if search:
            conditions.append(
                or_(
                    *(
                        folded_contains(self.column(name), search)
                        for name in self.owner.search_fields
                    )
                )
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
