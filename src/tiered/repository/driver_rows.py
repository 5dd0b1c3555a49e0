"""A read model's rows fetched on the session's own driver connection, in one driver call.

SQLAlchemy's async adapters wrap every statement in a DBAPI cursor: on aiosqlite
that is four round trips to the connection's thread (open a cursor, execute,
fetch, close it), and on both drivers an execution context and a result object
per statement. Measured here on a list of 50 markets: 6.7 M instructions through
``AsyncSession.execute`` on SQLite, 2.7 M for the same SQL through
``aiosqlite.Connection.execute_fetchall``, of which SQLite's own work is 2.0 M;
on PostgreSQL, SQLAlchemy's path cost twice the CPU of asyncpg's ``fetch``.

So a read model's statement, already compiled once per query shape, runs on the
driver connection the session holds. Nothing else changes: SQLAlchemy still
renders the SQL (expanding ``IN`` lists included), the bound values go through
the bind processors SQLAlchemy would apply, the rows through its result
processors (UUIDs, UTC datetimes, exact decimals, enums), statement recorders
see the statement, and a driver error is a ``sqlite3`` or ``asyncpg`` error
that the repository's database boundary classifies as it classifies any other.

SQLAlchemy keeps the statement with ``echo`` on (it logs what it runs), with a
``schema_translate_map`` (applied when it executes), on other drivers, and on
asyncpg unless the connection is in autocommit (a read-only unit of work at
``READ COMMITTED``): SQLAlchemy's asyncpg adapter begins its transaction lazily,
with the first statement it runs, so a statement run beside it could land
outside the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, SafeUUID

from sqlalchemy import Dialect, Select, Uuid
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

from tiered.db.statements import report_statement

__all__ = ["DriverStatement", "driver_statement", "fetch_driver_rows"]

_Processor = Callable[[Any], Any]
_Converters = tuple[tuple[int, _Processor], ...]
_DRIVERS = frozenset({"aiosqlite", "asyncpg"})


@dataclass(slots=True)
class DriverStatement:
    compiled: SQLCompiler
    dialect: Dialect
    binders: Mapping[str, _Processor]
    """The bind processor of each parameter that has one, by name."""
    types: tuple[TypeEngine[Any], ...]
    """The selected columns' types."""
    converters: _Converters | None
    """``(column index, result processor)`` for each column that has one; on asyncpg,
    known once the statement has run (a processor may depend on the column's type code)."""

    @property
    def on_asyncpg(self) -> bool:
        return self.dialect.driver == "asyncpg"

    def learn_converters(self, type_codes: Sequence[Any]) -> _Converters:
        converters = []
        dialect = self.dialect
        for index, (column_type, code) in enumerate(zip(self.types, type_codes, strict=True)):
            processor = (
                _uuid_from_text
                if _is_text_uuid(column_type, dialect)
                else column_type.dialect_impl(dialect).result_processor(dialect, code)
            )
            if processor is not None:
                converters.append((index, processor))
        self.converters = tuple(converters)
        return self.converters


def _is_text_uuid(column_type: TypeEngine[Any], dialect: Dialect) -> bool:
    """A ``Uuid`` column read as ``uuid.UUID`` from the 32 hex digits SQLAlchemy stores."""
    return (
        type(column_type) is Uuid
        and column_type.as_uuid
        and not (dialect.supports_native_uuid and column_type.native_uuid)
    )


_new_object = object.__new__
_set_slot = object.__setattr__
_SAFETY_UNKNOWN = SafeUUID.unknown


def _uuid_from_text(value: str | None) -> UUID | None:
    """``uuid.UUID(value)``, in 60 % of the time for the text SQLAlchemy stores.

    ``UUID(text)`` strips braces, ``urn:uuid:`` and hyphens, then reads the 32
    hex digits left with ``int(…, 16)``; a 32-character alphanumeric value has
    none of those to strip, so its number is read the same way and set as
    ``UUID.__init__`` sets it. Anything else goes to ``UUID`` itself, so a value
    it refuses is refused with its error.
    """
    if value is None:
        return None
    if type(value) is str and len(value) == 32 and value.isalnum():
        parsed = _new_object(UUID)
        _set_slot(parsed, "int", int(value, 16))
        _set_slot(parsed, "is_safe", _SAFETY_UNKNOWN)
        return parsed
    return UUID(value)


def driver_statement(statement: Select[Any], dialect: Dialect) -> DriverStatement | None:
    """``statement`` compiled for ``dialect``'s driver, or ``None`` to use SQLAlchemy's path."""
    if dialect.driver not in _DRIVERS:
        return None
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    binders = {}
    for name, parameter in compiled.binds.items():
        binder = parameter.type.dialect_impl(dialect).bind_processor(dialect)
        if binder is not None:
            binders[name] = binder
    types = tuple(column.type for column in statement.selected_columns)
    prepared = DriverStatement(compiled, dialect, binders, types, None)
    if not prepared.on_asyncpg:
        prepared.learn_converters([None] * len(types))
    return prepared


def _takes_sqlalchemys_path(connection: AsyncConnection, statement: DriverStatement) -> bool:
    sync = connection.sync_connection
    if sync is None or sync.engine.echo:
        return True
    options = sync.get_execution_options()
    if options.get("schema_translate_map"):
        return True
    return statement.on_asyncpg and options.get("isolation_level") != "AUTOCOMMIT"


async def fetch_driver_rows(
    session: AsyncSession, statement: DriverStatement, values: dict[str, Any]
) -> Sequence[Sequence[Any]] | None:
    """The processed rows, or ``None`` when this session must use SQLAlchemy's path."""
    connection = await session.connection()
    if _takes_sqlalchemys_path(connection, statement):
        return None
    sync = connection.sync_connection
    assert sync is not None
    if sync.invalidated or sync.closed:  # reconnecting takes the event loop
        driver: Any = (await connection.get_raw_connection()).driver_connection
    else:
        driver = sync.connection.driver_connection
    state = statement.compiled.construct_expanded_state(values)
    processors: Mapping[str, _Processor] = statement.binders
    if state.processors:
        processors = {**processors, **state.processors}
    parameters = []
    for name, value in zip(state.positiontup or (), state.positional_parameters, strict=True):
        processor = processors.get(name)
        parameters.append(value if processor is None else processor(value))
    report_statement(state.statement)
    converters = statement.converters
    rows: Sequence[Any]
    if not statement.on_asyncpg:
        rows = await driver.execute_fetchall(state.statement, parameters)
    elif converters is None:
        prepared = await driver.prepare(state.statement)
        converters = statement.learn_converters(
            [attribute.type.oid for attribute in prepared.get_attributes()]
        )
        rows = await prepared.fetch(*parameters)
    else:
        rows = await driver.fetch(state.statement, *parameters)
    if not converters:
        return rows
    processed = []
    for row in rows:
        converted = list(row)
        for index, convert in converters:
            converted[index] = convert(converted[index])
        processed.append(converted)
    return processed
