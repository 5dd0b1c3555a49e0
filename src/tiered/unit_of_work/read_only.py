"""Read-only units of work: autocommit reads, and writes refused by the session.

A read-only unit of work needs no transaction of its own where each statement
would get its own snapshot anyway: on SQLite (reads in WAL mode), and on
PostgreSQL at ``READ COMMITTED``, its default level, where a transaction takes
a new snapshot for every statement. There its statements run in autocommit,
which saves the ``BEGIN`` and ``COMMIT`` round trips (on PostgreSQL, about a
tenth of a list request's CPU). At a stricter level (``REPEATABLE READ``,
``SERIALIZABLE``) statements share one snapshot only inside a transaction, so
a read-only unit of work keeps one (``BEGIN READ ONLY``).

Without a transaction the database cannot refuse a write, so the session does:
a flush or an ``INSERT``, ``UPDATE`` or ``DELETE`` statement in a read-only
unit of work raises :class:`UnitOfWorkError` before anything is sent. Textual
SQL (``text("UPDATE …")``) is not inspected. The in-memory unit of work
refuses writes in the same way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import ORMExecuteState, Session

from tiered.unit_of_work.base import UnitOfWorkError

__all__ = ["mark_read_only", "reads_in_autocommit", "refused_write"]

_READ_ONLY = "tiered.read_only"
_SNAPSHOT_PER_STATEMENT = frozenset({"READ COMMITTED", "READ UNCOMMITTED"})


def mark_read_only(session: Session) -> None:
    session.info[_READ_ONLY] = True


def reads_in_autocommit(engine: Engine) -> bool:
    """Whether a PostgreSQL transaction on ``engine`` would give each statement its own snapshot.

    Unknown until the first connection reports the server's default level.
    """
    level = engine.get_execution_options().get("isolation_level") or getattr(
        engine.dialect, "default_isolation_level", None
    )
    return level in _SNAPSHOT_PER_STATEMENT


def refused_write(what: str) -> UnitOfWorkError:
    return UnitOfWorkError(
        f"a read-only unit of work cannot {what}; open it with `async with uow:` to write"
    )


@event.listens_for(Session, "before_flush")
def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(_READ_ONLY):
        raise refused_write("flush added, changed or deleted entities")


@event.listens_for(Session, "do_orm_execute")
def _refuse_writes(state: ORMExecuteState) -> None:
    if state.session.info.get(_READ_ONLY) and (
        state.is_insert or state.is_update or state.is_delete
    ):
        raise refused_write(f"run {type(state.statement).__name__.upper()}")
