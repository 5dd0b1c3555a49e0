"""Translate database driver errors into the application error hierarchy.

The HTTP layer must never show SQL, and must tell a client the *kind* of
failure: a unique violation is a 409 naming the constraint, a lost connection
is a retryable 503. Both SQLite and PostgreSQL (asyncpg) are understood.
"""

from __future__ import annotations

import re
from typing import NoReturn

from sqlalchemy import exc as sa_exc

from tiered.errors.hierarchy import (
    AppError,
    ConflictError,
    DatabaseUnavailableError,
    DuplicateResourceError,
    InvalidInputError,
    StaleVersionError,
)

__all__ = ["raise_translated", "translate_database_error"]

_PG_UNIQUE = "23505"
_PG_FOREIGN_KEY = "23503"
_PG_NOT_NULL = "23502"
_PG_CHECK = "23514"
_PG_RETRYABLE = frozenset({"40001", "40P01"})  # serialization failure, deadlock
_SQLITE_MISTAKE = re.compile(r"no such (table|column|function|index)|syntax error|has no column")
"""SQLite reports mistakes in a query as OperationalError: a bug (500), not an outage."""
_SQLITE_DETAIL = re.compile(
    r"(?P<kind>UNIQUE|FOREIGN KEY|NOT NULL|CHECK) constraint failed(?::\s*(?P<target>.+))?"
)


def translate_database_error(error: BaseException) -> AppError | None:
    """The :class:`AppError` a database failure means, or ``None`` if it is a bug."""
    if isinstance(error, sa_exc.TimeoutError):
        return DatabaseUnavailableError("The database connection pool is exhausted.")
    if isinstance(error, sa_exc.IntegrityError):
        return _integrity_error(error)
    if isinstance(error, sa_exc.DBAPIError):
        conflict = _write_conflict(error.orig)
        if conflict is not None:
            return conflict
    if isinstance(error, sa_exc.DBAPIError) and (
        error.connection_invalidated
        or (
            isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
            and not _SQLITE_MISTAKE.search(str(error.orig))
        )
    ):
        return DatabaseUnavailableError("The database is unavailable.")
    return None


def raise_translated(error: BaseException) -> NoReturn:
    """Re-raise a driver error as the application error it means (or as itself)."""
    translated = translate_database_error(error)
    if translated is None:
        raise error
    raise translated from error


def _write_conflict(orig: object) -> AppError | None:
    """Concurrent transactions that cannot both commit: the client should retry."""
    if getattr(orig, "sqlite_errorname", None) == "SQLITE_BUSY_SNAPSHOT":
        return StaleVersionError(
            "Another transaction changed the data since this one read it; re-read and retry."
        )
    if getattr(orig, "sqlstate", None) in _PG_RETRYABLE:
        return ConflictError(
            "The transaction conflicted with a concurrent one; retry it.",
            code="TRANSACTION_CONFLICT",
        )
    return None


def _integrity_error(error: sa_exc.IntegrityError) -> AppError:
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is not None:
        return _postgres_integrity_error(str(sqlstate), error.orig)
    match = _SQLITE_DETAIL.search(str(error.orig))
    kind = match.group("kind") if match else ""
    target = (match.group("target") or "").strip() if match else ""
    return _violation(kind, target)


def _postgres_integrity_error(sqlstate: str, orig: object) -> AppError:
    cause = getattr(orig, "__cause__", None)
    kind = {
        _PG_UNIQUE: "UNIQUE",
        _PG_FOREIGN_KEY: "FOREIGN KEY",
        _PG_NOT_NULL: "NOT NULL",
        _PG_CHECK: "CHECK",
    }.get(sqlstate, "")
    if kind == "NOT NULL":
        table = getattr(cause, "table_name", None)
        column = getattr(cause, "column_name", None)
        target = ".".join(part for part in (table, column) if part)
    else:
        target = getattr(cause, "constraint_name", None) or ""
    return _violation(kind, target)


def _violation(kind: str, target: str) -> AppError:
    details = {"constraint": target} if target else {}
    if kind == "UNIQUE":
        return DuplicateResourceError(
            "A resource with the same unique value already exists.", details=details
        )
    if kind == "FOREIGN KEY":
        return ConflictError(
            "The request refers to a resource that does not exist or is still referenced.",
            code="FOREIGN_KEY_VIOLATION",
            details=details,
        )
    if kind == "NOT NULL":
        return InvalidInputError("A required value is missing.", details=details)
    if kind == "CHECK":
        return InvalidInputError("A value violates a constraint.", details=details)
    return ConflictError("The change violates a database constraint.", details=details)
