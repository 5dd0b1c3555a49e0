"""A read model's rows fetched on the session's own SQLite connection, in one thread hop.

aiosqlite runs every call on the connection's thread, and SQLAlchemy's adapter
makes four calls per statement (open a cursor, execute, fetch, close the
cursor): four round trips between the event loop and that thread, plus the
execution context, for a page that SQLite itself reads in less time. Measured
here on a list of 50 markets: 6.7 M instructions through
``AsyncSession.execute``, 2.7 M for the same SQL through
``aiosqlite.Connection.execute_fetchall`` (one round trip), of which SQLite's
own work is 2.0 M.

So a read model's statement, already compiled once per query shape, runs on
the driver connection the session holds, inside the session's transaction.
Nothing else changes: SQLAlchemy still renders the SQL (expanding ``IN`` lists
included), the bound values go through the bind processors SQLAlchemy would
apply, the rows through its result processors (UUIDs, UTC datetimes, exact
decimals, enums), statement recorders see the statement, and a driver error is
a ``sqlite3`` error that the repository's database boundary classifies as it
classifies any other. With ``echo`` on (SQLAlchemy logs what it runs) or a
``schema_translate_map`` (applied when SQLAlchemy executes), and on other
drivers, the statement takes SQLAlchemy's path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

from tiered.db.statements import report_statement

__all__ = ["DriverStatement", "driver_statement", "fetch_driver_rows"]

_Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class DriverStatement:
    compiled: SQLCompiler
    binders: Mapping[str, _Processor]
    """The bind processor of each parameter that has one, by name."""
    converters: tuple[tuple[int, _Processor], ...]
    """``(column index, result processor)`` for each column that has one."""


def driver_statement(statement: Select[Any], dialect: Dialect) -> DriverStatement | None:
    """``statement`` compiled for ``dialect``'s driver, or ``None`` to use SQLAlchemy's path."""
    if dialect.driver != "aiosqlite":
        return None
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    binders = {}
    for name, parameter in compiled.binds.items():
        binder = parameter.type.dialect_impl(dialect).bind_processor(dialect)
        if binder is not None:
            binders[name] = binder
    converters = []
    for index, column in enumerate(statement.selected_columns):
        processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if processor is not None:
            converters.append((index, processor))
    return DriverStatement(compiled, binders, tuple(converters))


async def fetch_driver_rows(
    session: AsyncSession, statement: DriverStatement, values: dict[str, Any]
) -> Sequence[Sequence[Any]] | None:
    """The processed rows, or ``None`` when this session must use SQLAlchemy's path."""
    connection = await session.connection()
    sync = connection.sync_connection
    if sync is None or sync.engine.echo or sync.get_execution_options().get("schema_translate_map"):
        return None
    driver: Any = (await connection.get_raw_connection()).driver_connection
    state = statement.compiled.construct_expanded_state(values)
    processors: Mapping[str, _Processor] = statement.binders
    if state.processors:
        processors = {**processors, **state.processors}
    parameters = []
    for name, value in zip(state.positiontup or (), state.positional_parameters, strict=True):
        processor = processors.get(name)
        parameters.append(value if processor is None else processor(value))
    report_statement(state.statement)
    rows: Sequence[Any] = await driver.execute_fetchall(state.statement, parameters)
    converters = statement.converters
    if not converters:
        return rows
    processed = []
    for row in rows:
        converted = list(row)
        for index, convert in converters:
            converted[index] = convert(converted[index])
        processed.append(converted)
    return processed
