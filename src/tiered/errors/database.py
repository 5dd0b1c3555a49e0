"""Translate database driver errors into the application error hierarchy.

The HTTP layer must never show SQL, and must tell a client the *kind* of
failure, because the kind decides what the client does next: fix the input
(400), resolve a conflict (409), send the same request again (409
``TRANSACTION_CONFLICT``, 503), or report a bug (500). PostgreSQL errors are
classified by SQLSTATE and SQLite errors by their extended result code, never
by message text, so a translation does not change with a driver's wording.

The same race gets the same code on every backend: a PostgreSQL serialization
failure, a deadlock, a lock that ``NOWAIT`` could not take and a SQLite write
on a stale WAL snapshot are all a retryable ``TRANSACTION_CONFLICT``.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from typing import Any, Final, NoReturn

from sqlalchemy import exc as sa_exc

from tiered.errors.hierarchy import (
    AppError,
    ConflictError,
    DatabaseMisuseError,
    DatabaseUnavailableError,
    DuplicateResourceError,
    InvalidInputError,
    PayloadTooLargeError,
    StaleVersionError,
    TransactionConflictError,
)

__all__ = [
    "database_error_fields",
    "is_database_error",
    "raise_translated",
    "translate_database_error",
]

_DRIVER_PACKAGES: Final = frozenset({"asyncpg", "aiosqlite", "sqlite3"})
"""Where a bare ``OSError``/``TimeoutError``/``OverflowError`` must come from to be ours."""

_UNAVAILABLE = "The database is unavailable."
_TIMED_OUT = "The database did not answer in time."
_CONFLICT = "The request collided with a concurrent transaction and changed nothing; retry it."
_MISUSE = "The server failed to complete the request; it has been logged."
_TOO_LARGE = "A value is larger than the database can store."
_WRONG_TYPE = "A value does not fit the type of its database column."

_PG_INTEGRITY_KINDS: Final = {
    "23505": "UNIQUE",
    "23503": "FOREIGN KEY",
    "23001": "FOREIGN KEY",  # restrict_violation: ON DELETE/UPDATE RESTRICT
    "23502": "NOT NULL",
    "23514": "CHECK",
}
_PG_DATA_MESSAGES: Final = {
    "22000": _WRONG_TYPE,  # asyncpg could not encode a parameter
    "22001": "A text value is longer than its database column allows.",
    "22003": "A number is out of the range its database column accepts.",
    "22007": "A date or time is not in a format the database accepts.",
    "22008": "A date or time is out of the range the database accepts.",
    "22012": "A value leads to a division by zero.",
    "22021": "A text value contains a character the database cannot store, such as a NUL byte.",
    "22P02": "A value is not in a format its database column accepts.",
    "22P05": "A text value contains a character the database cannot store.",
}
_DATA_DEFAULT = "A value is not acceptable to the database."
_SQLITE_CONSTRAINT_DATATYPE = 3091  # STRICT tables; not in the sqlite3 module of Python 3.11
_SQLITE_INTEGRITY_KINDS: Final = {
    sqlite3.SQLITE_CONSTRAINT_UNIQUE: "UNIQUE",
    sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY: "UNIQUE",
    sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY: "FOREIGN KEY",
    sqlite3.SQLITE_CONSTRAINT_NOTNULL: "NOT NULL",
    sqlite3.SQLITE_CONSTRAINT_CHECK: "CHECK",
}
_SQLITE_DETAIL = re.compile(
    r"(?P<kind>UNIQUE|FOREIGN KEY|NOT NULL|CHECK) constraint failed(?::\s*(?P<target>.+))?"
)
_CONNECTION_CLOSED = re.compile(r"connection (?:is|was) closed", re.IGNORECASE)


def is_database_error(error: BaseException) -> bool:
    """Whether *error* came from the database layer and :func:`raise_translated` should handle it.

    True for every SQLAlchemy error, for raw ``sqlite3`` and ``asyncpg`` errors,
    and for a bare ``OSError``/``TimeoutError``/``OverflowError`` that a driver
    raised (asyncpg connects outside SQLAlchemy's wrapping; sqlite3 refuses an
    integer beyond 64 bits the same way). An :class:`AppError` is never one, even
    when a type decorator raised it inside a statement: it passes through as is.
    """
    if isinstance(error, AppError):
        return False
    if isinstance(error, sa_exc.SQLAlchemyError | sqlite3.Error) or _is_asyncpg(error):
        return True
    return isinstance(error, OSError | OverflowError) and _raised_by_driver(error)


def translate_database_error(error: BaseException) -> AppError | None:
    """The :class:`AppError` a database failure means; ``None`` if *error* is not one.

    Every database error has a translation; a mistake in our own SQL becomes a
    :class:`DatabaseMisuseError` (a 500 with a generic detail). An ``AppError``
    that a type decorator raised inside a statement is returned unwrapped.
    """
    if not is_database_error(error):
        return None
    if isinstance(error, sa_exc.StatementError) and isinstance(error.orig, AppError):
        return error.orig
    return _classify(error)


def raise_translated(error: BaseException) -> NoReturn:
    """Raise the application error *error* means, chained to it; re-raise anything else.

    Meant for one ``except Exception`` around each database operation::

        except Exception as error:
            raise_translated(error)
    """
    translated = translate_database_error(error)
    if translated is None:
        raise error
    if isinstance(error, sa_exc.StatementError) and translated is error.orig:
        raise translated  # keeps the cause its own code gave it
    raise translated from error


def database_error_fields(error: BaseException) -> dict[str, Any]:
    """Log fields naming the driver failure beneath *error*: type, message, SQLSTATE.

    The driver's own message carries neither the statement nor its parameters;
    it belongs in the log, never in a response.
    """
    driver = _driver_error(error)
    source = _asyncpg_error(driver) or driver
    kind = type(source)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    fields: dict[str, Any] = {"error_type": name, "error": str(source)}
    sqlstate = _sqlstate(driver)
    if sqlstate is not None:
        fields["sqlstate"] = sqlstate
    if isinstance(driver, sqlite3.Error) and getattr(driver, "sqlite_errorcode", None) is not None:
        fields["sqlite_error"] = f"{driver.sqlite_errorname} ({driver.sqlite_errorcode})"
    return fields


# -- classification -----------------------------------------------------------------


def _classify(error: BaseException) -> AppError:
    if isinstance(error, sa_exc.TimeoutError):
        return DatabaseUnavailableError("The database connection pool is exhausted.")
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return DatabaseUnavailableError(_UNAVAILABLE)
    if _is_stale_data(error):
        return StaleVersionError.of()
    driver = _driver_error(error)
    sqlstate = _sqlstate(driver)
    if sqlstate is not None:
        build = _PG_BY_SQLSTATE.get(sqlstate) or _PG_BY_CLASS.get(sqlstate[:2], _misuse)
        return build(sqlstate, driver)
    code = getattr(driver, "sqlite_errorcode", None) if isinstance(driver, sqlite3.Error) else None
    if isinstance(code, int):
        build_sqlite = _SQLITE_BY_CODE.get(code) or _SQLITE_BY_PRIMARY.get(code & 0xFF, _misuse)
        return build_sqlite(code, driver)
    return _from_python(driver)


def _conflict(_key: object, _driver: BaseException) -> AppError:
    return TransactionConflictError(_CONFLICT)


def _unavailable(_key: object, _driver: BaseException) -> AppError:
    return DatabaseUnavailableError(_UNAVAILABLE)


def _timed_out(_key: object, _driver: BaseException) -> AppError:
    return DatabaseUnavailableError(_TIMED_OUT)


def _too_large(_key: object, _driver: BaseException) -> AppError:
    return PayloadTooLargeError(_TOO_LARGE)


def _wrong_type(_key: object, _driver: BaseException) -> AppError:
    return InvalidInputError(_WRONG_TYPE)


def _misuse(_key: object, _driver: BaseException) -> AppError:
    return DatabaseMisuseError(_MISUSE)


def _data_exception(sqlstate: str, _driver: BaseException) -> AppError:
    return InvalidInputError(_PG_DATA_MESSAGES.get(sqlstate, _DATA_DEFAULT))


def _postgres_violation(sqlstate: str, driver: BaseException) -> AppError:
    kind = _PG_INTEGRITY_KINDS.get(sqlstate, "")
    source = _asyncpg_error(driver)
    if kind == "NOT NULL":
        table = getattr(source, "table_name", None)
        column = getattr(source, "column_name", None)
        target = ".".join(part for part in (table, column) if part)
    else:
        target = getattr(source, "constraint_name", None) or ""
    return _violation(kind, target)


def _sqlite_violation(code: int, driver: BaseException) -> AppError:
    return _violation_from_message(_SQLITE_INTEGRITY_KINDS.get(code, ""), str(driver))


_PgBuild = Callable[[str, BaseException], AppError]
_SqliteBuild = Callable[[int, BaseException], AppError]

# PostgreSQL: https://www.postgresql.org/docs/current/errcodes-appendix.html
_PG_BY_SQLSTATE: Final[dict[str, _PgBuild]] = {
    "40001": _conflict,  # serialization_failure
    "40P01": _conflict,  # deadlock_detected
    "55P03": _conflict,  # lock_not_available (NOWAIT, lock_timeout)
    "57014": _timed_out,  # query_canceled (statement_timeout)
    "57P01": _unavailable,  # admin_shutdown
    "57P02": _unavailable,  # crash_shutdown
    "57P03": _unavailable,  # cannot_connect_now (starting up, recovering)
    "57P04": _unavailable,  # database_dropped
    "57P05": _unavailable,  # idle_session_timeout
    "25P03": _unavailable,  # idle_in_transaction_session_timeout
    "3D000": _unavailable,  # invalid_catalog_name: the database does not exist (yet)
    "54000": _too_large,  # program_limit_exceeded: a value too large for an index row
}
_PG_BY_CLASS: Final[dict[str, _PgBuild]] = {
    "08": _unavailable,  # connection exception
    "28": _unavailable,  # invalid authorization specification
    "53": _unavailable,  # insufficient resources (too many connections, disk full)
    "58": _unavailable,  # system error (I/O)
    "22": _data_exception,
    "23": _postgres_violation,
}
# SQLite: https://www.sqlite.org/rescode.html
_SQLITE_BY_CODE: Final[dict[int, _SqliteBuild]] = {
    sqlite3.SQLITE_BUSY_SNAPSHOT: _conflict,  # a write on a stale WAL snapshot
    _SQLITE_CONSTRAINT_DATATYPE: _wrong_type,
}
_SQLITE_BY_PRIMARY: Final[dict[int, _SqliteBuild]] = {
    **dict.fromkeys(
        (
            sqlite3.SQLITE_PERM,
            sqlite3.SQLITE_BUSY,  # still locked after the busy timeout
            sqlite3.SQLITE_LOCKED,
            sqlite3.SQLITE_NOMEM,
            sqlite3.SQLITE_READONLY,
            sqlite3.SQLITE_INTERRUPT,
            sqlite3.SQLITE_IOERR,
            sqlite3.SQLITE_CORRUPT,
            sqlite3.SQLITE_FULL,
            sqlite3.SQLITE_CANTOPEN,
            sqlite3.SQLITE_PROTOCOL,
            sqlite3.SQLITE_NOLFS,
            sqlite3.SQLITE_NOTADB,
        ),
        _unavailable,
    ),
    sqlite3.SQLITE_TOOBIG: _too_large,
    sqlite3.SQLITE_MISMATCH: _wrong_type,
    sqlite3.SQLITE_CONSTRAINT: _sqlite_violation,
}


def _from_python(driver: BaseException) -> AppError:
    """Errors with no SQLSTATE or SQLite code: raised by the driver or Python itself."""
    if isinstance(driver, TimeoutError):
        return DatabaseUnavailableError(_TIMED_OUT)
    if isinstance(driver, OSError) or _is_closed_connection(driver):
        return DatabaseUnavailableError(_UNAVAILABLE)
    if isinstance(driver, OverflowError):
        return InvalidInputError("A number is out of the range the database accepts.")
    if isinstance(driver, sqlite3.DataError):
        return InvalidInputError(_DATA_DEFAULT)
    if isinstance(driver, sqlite3.IntegrityError):
        return _violation_from_message("", str(driver))
    return DatabaseMisuseError(_MISUSE)


# -- integrity violations -----------------------------------------------------------


def _violation_from_message(kind: str, message: str) -> AppError:
    """SQLite names the constraint (or its columns) only in the message."""
    match = _SQLITE_DETAIL.search(message)
    target = (match.group("target") or "").strip() if match else ""
    return _violation(kind or (match.group("kind") if match else ""), target)


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


# -- reading driver errors ----------------------------------------------------------


def _driver_error(error: BaseException) -> BaseException:
    """The DB-API (or driver) exception SQLAlchemy wrapped, or *error* itself."""
    if isinstance(error, sa_exc.StatementError) and isinstance(error.orig, BaseException):
        return error.orig
    return error


def _asyncpg_error(driver: BaseException) -> BaseException | None:
    """The asyncpg exception itself: *driver*, or the one SQLAlchemy's adapter wraps."""
    if _is_asyncpg(driver):
        return driver
    cause = driver.__cause__
    return cause if cause is not None and _is_asyncpg(cause) else None


def _sqlstate(driver: BaseException) -> str | None:
    for candidate in (driver, _asyncpg_error(driver)):
        sqlstate = getattr(candidate, "sqlstate", None)
        if isinstance(sqlstate, str) and len(sqlstate) == 5:
            return sqlstate
    return None


def _is_closed_connection(driver: BaseException) -> bool:
    """A driver's ``InterfaceError: connection is closed`` (not SQLAlchemy's own misuse)."""
    is_interface_error = any(cls.__name__ == "InterfaceError" for cls in type(driver).__mro__)
    return is_interface_error and _CONNECTION_CLOSED.search(str(driver)) is not None


def _is_asyncpg(error: BaseException) -> bool:
    """By module, so that importing ``tiered.errors`` does not import asyncpg."""
    return any(cls.__module__.partition(".")[0] == "asyncpg" for cls in type(error).__mro__)


def _is_stale_data(error: BaseException) -> bool:
    from sqlalchemy.orm.exc import StaleDataError

    return isinstance(error, StaleDataError)


def _raised_by_driver(error: BaseException) -> bool:
    traceback = error.__traceback__
    while traceback is not None:
        module = str(traceback.tb_frame.f_globals.get("__name__", ""))
        if module.partition(".")[0] in _DRIVER_PACKAGES:
            return True
        traceback = traceback.tb_next
    return False
