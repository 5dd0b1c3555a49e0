"""Database plumbing: engine, sessions, column types, statement counting, error translation."""

from tiered.db.engine import Database, is_sqlite
from tiered.db.statements import (
    RepeatedStatementError,
    StatementRecorder,
    install_statement_listener,
    record_statements,
)
from tiered.db.text import (
    code_point_order,
    contains_pattern,
    fold,
    folded,
    folded_contains,
    ordered,
    register_sqlite_functions,
    text_contains,
)
from tiered.db.types import DecimalRangeError, ExactDecimal, UtcDateTime
from tiered.errors.database import translate_database_error

__all__ = [
    "Database",
    "DecimalRangeError",
    "ExactDecimal",
    "RepeatedStatementError",
    "StatementRecorder",
    "UtcDateTime",
    "code_point_order",
    "contains_pattern",
    "fold",
    "folded",
    "folded_contains",
    "install_statement_listener",
    "is_sqlite",
    "ordered",
    "record_statements",
    "register_sqlite_functions",
    "text_contains",
    "translate_database_error",
]
