"""Database plumbing: engine, sessions, column types, statement counting, error translation."""

from tiered.db.engine import Database, is_sqlite
from tiered.db.statements import (
    RepeatedStatementError,
    StatementRecorder,
    install_statement_listener,
    record_statements,
)
from tiered.db.types import ExactDecimal, UtcDateTime
from tiered.errors.database import translate_database_error

__all__ = [
    "Database",
    "ExactDecimal",
    "RepeatedStatementError",
    "StatementRecorder",
    "UtcDateTime",
    "install_statement_listener",
    "is_sqlite",
    "record_statements",
    "translate_database_error",
]
