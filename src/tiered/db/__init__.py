"""Database plumbing: engine, sessions and error translation."""

from tiered.db.engine import Database, is_sqlite
from tiered.db.errors import translate_database_error

__all__ = ["Database", "is_sqlite", "translate_database_error"]
