"""The whole SQLSTATE / SQLite-code table, on errors built the way the drivers build them.

The integration suites provoke the common failures on real databases; this one
covers the codes a test cannot cheaply provoke (a crash shutdown, a disk I/O
error, a corrupt file), so that every row of the table is pinned.
"""

from __future__ import annotations

import sqlite3

import asyncpg.exceptions
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi

from tiered.errors import (
    AppError,
    ConflictError,
    DatabaseMisuseError,
    DatabaseUnavailableError,
    DuplicateResourceError,
    InvalidInputError,
    PayloadTooLargeError,
    TransactionConflictError,
    is_database_error,
    translate_database_error,
)
from tiered.errors.database import database_error_fields

MESSAGE = "the driver's own words, with a secret value 'hunter2'"


def postgres_error(sqlstate: str, **fields: str) -> sa_exc.DBAPIError:
    """As SQLAlchemy raises it: a DBAPIError around the adapter's error, caused by asyncpg's."""
    driver = asyncpg.exceptions.PostgresError.new({"C": sqlstate, "M": MESSAGE, **fields})
    adapted = AsyncAdapt_asyncpg_dbapi.Error(MESSAGE, driver)
    adapted.__cause__ = driver
    return sa_exc.DBAPIError("SELECT secret FROM vault", {"p": "hunter2"}, adapted)


def sqlite_error(
    code: int, name: str, kind: type[sqlite3.Error] = sqlite3.OperationalError
) -> sa_exc.DBAPIError:
    driver = kind(MESSAGE)
    driver.sqlite_errorcode = code
    driver.sqlite_errorname = name
    return sa_exc.DBAPIError("SELECT secret FROM vault", {"p": "hunter2"}, driver)


def assert_translates(
    error: BaseException, cls: type[AppError], status: int, code: str
) -> AppError:
    assert is_database_error(error)
    translated = translate_database_error(error)
    assert type(translated) is cls
    assert (translated.status, translated.code) == (status, code)
    assert "hunter2" not in translated.message
    assert "SELECT" not in translated.message
    assert "driver" not in translated.message
    return translated


UNAVAILABLE = (DatabaseUnavailableError, 503, "DATABASE_UNAVAILABLE")
CONFLICT = (TransactionConflictError, 409, "TRANSACTION_CONFLICT")
INVALID = (InvalidInputError, 400, "INVALID_INPUT")
TOO_LARGE = (PayloadTooLargeError, 413, "PAYLOAD_TOO_LARGE")
MISUSE = (DatabaseMisuseError, 500, "INTERNAL_ERROR")

POSTGRES: list[tuple[str, tuple[type[AppError], int, str]]] = [
    ("40001", CONFLICT),  # serialization_failure
    ("40P01", CONFLICT),  # deadlock_detected
    ("55P03", CONFLICT),  # lock_not_available
    ("57014", UNAVAILABLE),  # query_canceled
    ("57P01", UNAVAILABLE),  # admin_shutdown
    ("57P02", UNAVAILABLE),  # crash_shutdown
    ("57P03", UNAVAILABLE),  # cannot_connect_now
    ("57P05", UNAVAILABLE),  # idle_session_timeout
    ("25P03", UNAVAILABLE),  # idle_in_transaction_session_timeout
    ("08000", UNAVAILABLE),  # connection_exception
    ("08001", UNAVAILABLE),  # sqlclient_unable_to_establish_sqlconnection
    ("08003", UNAVAILABLE),  # connection_does_not_exist
    ("08006", UNAVAILABLE),  # connection_failure
    ("28P01", UNAVAILABLE),  # invalid_password
    ("3D000", UNAVAILABLE),  # invalid_catalog_name
    ("53100", UNAVAILABLE),  # disk_full
    ("53200", UNAVAILABLE),  # out_of_memory
    ("53300", UNAVAILABLE),  # too_many_connections
    ("58030", UNAVAILABLE),  # io_error
    ("22000", INVALID),  # data_exception (asyncpg's encoders)
    ("22001", INVALID),  # string_data_right_truncation
    ("22003", INVALID),  # numeric_value_out_of_range
    ("22007", INVALID),  # invalid_datetime_format
    ("22008", INVALID),  # datetime_field_overflow
    ("22012", INVALID),  # division_by_zero
    ("22021", INVALID),  # character_not_in_repertoire
    ("22P02", INVALID),  # invalid_text_representation
    ("22P05", INVALID),  # untranslatable_character
    ("22023", INVALID),  # invalid_parameter_value: any other class 22
    ("54000", TOO_LARGE),  # program_limit_exceeded
    ("42P01", MISUSE),  # undefined_table
    ("42601", MISUSE),  # syntax_error
    ("42501", MISUSE),  # insufficient_privilege
    ("54011", MISUSE),  # too_many_columns
    ("0A000", MISUSE),  # feature_not_supported
    ("25P02", MISUSE),  # in_failed_sql_transaction
    ("XX000", MISUSE),  # internal_error
]


@pytest.mark.parametrize(("sqlstate", "expected"), POSTGRES, ids=[row[0] for row in POSTGRES])
def test_postgres_sqlstate(sqlstate: str, expected: tuple[type[AppError], int, str]) -> None:
    error = postgres_error(sqlstate)
    assert_translates(error, *expected)
    fields = database_error_fields(error)
    assert fields["sqlstate"] == sqlstate
    assert fields["error"] == MESSAGE


@pytest.mark.parametrize(("sqlstate", "expected"), POSTGRES[:8], ids=[r[0] for r in POSTGRES[:8]])
def test_raw_asyncpg_errors_translate_alike(
    sqlstate: str, expected: tuple[type[AppError], int, str]
) -> None:
    raw = asyncpg.exceptions.PostgresError.new({"C": sqlstate, "M": MESSAGE})
    assert_translates(raw, *expected)


@pytest.mark.parametrize(
    ("sqlstate", "cls", "code", "details"),
    [
        ("23505", DuplicateResourceError, "DUPLICATE_RESOURCE", {"constraint": "users_email_key"}),
        ("23503", ConflictError, "FOREIGN_KEY_VIOLATION", {"constraint": "users_email_key"}),
        ("23001", ConflictError, "FOREIGN_KEY_VIOLATION", {"constraint": "users_email_key"}),
        ("23514", InvalidInputError, "INVALID_INPUT", {"constraint": "users_email_key"}),
        ("23502", InvalidInputError, "INVALID_INPUT", {"constraint": "users.email"}),
        ("23P01", ConflictError, "CONFLICT", {"constraint": "users_email_key"}),
    ],
    ids=["unique", "foreign-key", "restrict", "check", "not-null", "exclusion"],
)
def test_postgres_integrity_violations_name_the_constraint(
    sqlstate: str, cls: type[AppError], code: str, details: dict[str, str]
) -> None:
    error = postgres_error(sqlstate, n="users_email_key", t="users", c="email")
    translated = assert_translates(error, cls, cls.status, code)
    assert translated.details == details


SQLITE: list[tuple[int, str, tuple[type[AppError], int, str]]] = [
    (sqlite3.SQLITE_BUSY_SNAPSHOT, "SQLITE_BUSY_SNAPSHOT", CONFLICT),
    (sqlite3.SQLITE_BUSY, "SQLITE_BUSY", UNAVAILABLE),
    (261, "SQLITE_BUSY_RECOVERY", UNAVAILABLE),
    (773, "SQLITE_BUSY_TIMEOUT", UNAVAILABLE),
    (sqlite3.SQLITE_LOCKED, "SQLITE_LOCKED", UNAVAILABLE),
    (sqlite3.SQLITE_CANTOPEN, "SQLITE_CANTOPEN", UNAVAILABLE),
    (sqlite3.SQLITE_FULL, "SQLITE_FULL", UNAVAILABLE),
    (266, "SQLITE_IOERR_READ", UNAVAILABLE),
    (sqlite3.SQLITE_READONLY, "SQLITE_READONLY", UNAVAILABLE),
    (sqlite3.SQLITE_CORRUPT, "SQLITE_CORRUPT", UNAVAILABLE),
    (sqlite3.SQLITE_NOTADB, "SQLITE_NOTADB", UNAVAILABLE),
    (sqlite3.SQLITE_NOMEM, "SQLITE_NOMEM", UNAVAILABLE),
    (sqlite3.SQLITE_TOOBIG, "SQLITE_TOOBIG", TOO_LARGE),
    (sqlite3.SQLITE_MISMATCH, "SQLITE_MISMATCH", INVALID),
    (3091, "SQLITE_CONSTRAINT_DATATYPE", INVALID),
    (sqlite3.SQLITE_ERROR, "SQLITE_ERROR", MISUSE),
    (sqlite3.SQLITE_MISUSE, "SQLITE_MISUSE", MISUSE),
    (sqlite3.SQLITE_RANGE, "SQLITE_RANGE", MISUSE),
]


@pytest.mark.parametrize(("code", "name", "expected"), SQLITE, ids=[row[1] for row in SQLITE])
def test_sqlite_result_code(
    code: int, name: str, expected: tuple[type[AppError], int, str]
) -> None:
    error = sqlite_error(code, name)
    assert_translates(error, *expected)
    assert database_error_fields(error)["sqlite_error"] == f"{name} ({code})"


@pytest.mark.parametrize(
    ("code", "message", "cls", "error_code", "details"),
    [
        (
            2067,
            "UNIQUE constraint failed: users.email",
            DuplicateResourceError,
            "DUPLICATE_RESOURCE",
            {"constraint": "users.email"},
        ),
        (
            1555,
            "UNIQUE constraint failed: users.id",
            DuplicateResourceError,
            "DUPLICATE_RESOURCE",
            {"constraint": "users.id"},
        ),
        (787, "FOREIGN KEY constraint failed", ConflictError, "FOREIGN_KEY_VIOLATION", {}),
        (
            1299,
            "NOT NULL constraint failed: users.email",
            InvalidInputError,
            "INVALID_INPUT",
            {"constraint": "users.email"},
        ),
        (
            275,
            "CHECK constraint failed: positive",
            InvalidInputError,
            "INVALID_INPUT",
            {"constraint": "positive"},
        ),
        (1811, "no trades on a closed market", ConflictError, "CONFLICT", {}),
    ],
    ids=["unique", "primary-key", "foreign-key", "not-null", "check", "trigger"],
)
def test_sqlite_constraint_kind_comes_from_the_code(
    code: int, message: str, cls: type[AppError], error_code: str, details: dict[str, str]
) -> None:
    driver = sqlite3.IntegrityError(message)
    driver.sqlite_errorcode = code
    driver.sqlite_errorname = "SQLITE_CONSTRAINT"
    error = sa_exc.IntegrityError("INSERT INTO users VALUES (?)", ("hunter2",), driver)
    translated = assert_translates(error, cls, cls.status, error_code)
    assert translated.details == details


def test_a_dropped_connection_is_unavailable_whatever_the_error() -> None:
    error = postgres_error("42P01")
    error.connection_invalidated = True
    assert_translates(error, *UNAVAILABLE)


def test_asyncpg_closed_connection_is_unavailable_but_other_interface_errors_are_bugs() -> None:
    closed = asyncpg.exceptions.InterfaceError("cannot perform operation: connection is closed")
    assert_translates(closed, *UNAVAILABLE)
    busy = asyncpg.exceptions.InterfaceError("another operation is in progress")
    assert_translates(busy, *MISUSE)


def test_sqlalchemy_closed_connection_object_is_our_bug() -> None:
    assert_translates(sa_exc.ResourceClosedError("This Connection is closed"), *MISUSE)


def test_overflow_wrapped_in_a_statement_error_is_invalid_input() -> None:
    error = sa_exc.StatementError(
        "Python int too large", "INSERT INTO t VALUES (?)", (2**64,), OverflowError()
    )
    assert_translates(error, *INVALID)


def test_pool_timeout_is_unavailable() -> None:
    translated = assert_translates(sa_exc.TimeoutError("QueuePool limit reached"), *UNAVAILABLE)
    assert translated.message == "The database connection pool is exhausted."
