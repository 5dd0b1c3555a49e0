"""The few statements whose SQL differs between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from tiered.errors import ConfigurationError

__all__ = ["HasSession", "dialect_of", "insert_unless_present", "session_of"]


class HasSession(Protocol):
    @property
    def session(self) -> AsyncSession: ...


def session_of(uow: object) -> AsyncSession:
    """The SQLAlchemy session of a unit of work (or the session itself)."""
    session = uow if isinstance(uow, AsyncSession) else getattr(uow, "session", None)
    if not isinstance(session, AsyncSession):
        raise ConfigurationError(
            f"{type(uow).__name__} has no SQLAlchemy session: jobs are written in the "
            "transaction of a tiered.unit_of_work.UnitOfWork (or pass its session)"
        )
    return session


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def insert_unless_present(dialect: str, table: Table, key: list[str], **values: Any) -> Insert:
    """``INSERT … ON CONFLICT (key) DO NOTHING``: one statement, no race between check and write."""
    if dialect == "postgresql":
        return postgresql.insert(table).values(**values).on_conflict_do_nothing(index_elements=key)
    if dialect == "sqlite":
        return sqlite.insert(table).values(**values).on_conflict_do_nothing(index_elements=key)
    raise ConfigurationError(f"tiered.jobs runs on SQLite and PostgreSQL, not {dialect}")
