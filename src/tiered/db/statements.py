"""Counting SQL statements: the N+1 guard.

A listener on the engine reports every statement to the recorders active in
the current context (a request, a test block); transaction control (``BEGIN``,
``SAVEPOINT``…) is not counted, since drivers differ in whether they send it.
A recorder with a threshold fails, or in production logs, when one statement
*shape* (its SQL text, parameters aside) repeats more than the threshold: the
signature of a lazy load in a loop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tiered.errors.hierarchy import InternalError
from tiered.observability.logging import get_logger

__all__ = [
    "RepeatedStatementError",
    "StatementRecorder",
    "install_statement_listener",
    "record_statements",
]

_active: ContextVar[tuple[StatementRecorder, ...]] = ContextVar("tiered_statements", default=())
_log = get_logger("tiered.statements")


class RepeatedStatementError(InternalError):
    code = "REPEATED_STATEMENT"
    title = "Repeated Statement"
    slug = "repeated-statement"
    description = "One SQL statement repeated within a request: an N+1 query pattern (dev/test)."


class StatementRecorder:
    def __init__(self, threshold: int | None = None, *, strict: bool = True) -> None:
        self.threshold = threshold
        self.strict = strict
        self.statements: list[str] = []
        self.shapes: Counter[str] = Counter()
        self._reported: set[str] = set()

    @property
    def count(self) -> int:
        return len(self.statements)

    def record(self, statement: str) -> None:
        self.statements.append(statement)
        self.shapes[statement] += 1
        if self.threshold is None or self.shapes[statement] <= self.threshold:
            return
        if self.strict:
            raise RepeatedStatementError(
                f"A statement ran {self.shapes[statement]} times in one request "
                f"(threshold {self.threshold}); load the relation eagerly."
            )
        if statement not in self._reported:
            self._reported.add(statement)
            _log.warning("repeated_statement", statement=statement, threshold=self.threshold)


@contextmanager
def record_statements(
    threshold: int | None = None, *, strict: bool = True
) -> Iterator[StatementRecorder]:
    """Record statements run in this context (nested recorders all see them)."""
    recorder = StatementRecorder(threshold, strict=strict)
    token = _active.set((*_active.get(), recorder))
    try:
        yield recorder
    finally:
        _active.reset(token)


_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def _on_execute(connection: Any, cursor: Any, statement: str, *_args: Any) -> None:
    recorders = _active.get()
    if recorders and not statement.lstrip()[:9].upper().startswith(_TRANSACTION_CONTROL):
        for recorder in recorders:
            recorder.record(statement)


def install_statement_listener(engine: AsyncEngine) -> None:
    if not event.contains(engine.sync_engine, "before_cursor_execute", _on_execute):
        event.listen(engine.sync_engine, "before_cursor_execute", _on_execute)
