"""``assert_max_queries``: fail a test block that runs more SQL than it should."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tiered.db.statements import StatementRecorder, record_statements

__all__ = ["assert_max_queries"]


@contextmanager
def assert_max_queries(limit: int) -> Iterator[StatementRecorder]:
    """Statements run by engines built with :class:`tiered.db.Database` are counted."""
    with record_statements() as recorder:
        yield recorder
    if recorder.count > limit:
        listing = "\n".join(f"  {index}. {sql}" for index, sql in enumerate(recorder.statements, 1))
        raise AssertionError(
            f"expected at most {limit} statements, ran {recorder.count}:\n{listing}"
        )
