"""Counting SQL statements: the N+1 guard.

A listener on the engine reports every statement to the recorders active in
the current context (a request, a test block); transaction control (``BEGIN``,
``SAVEPOINT``…) is not counted, since drivers differ in whether they send it.
A recorder with a threshold fails, or in production logs, when one statement
*shape* (its SQL text, parameters aside) repeats more than the threshold: the
signature of a lazy load in a loop. A request's own recorder is made by its
first statement, from the guard of its `RequestScope`.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tiered.errors.hierarchy import InternalError
from tiered.observability.logging import get_logger
from tiered.observability.request_scope import current_request

__all__ = [
    "RepeatedStatementError",
    "StatementRecorder",
    "install_statement_listener",
    "record_statements",
    "report_statement",
]

_active: ContextVar[tuple[StatementRecorder, ...]] = ContextVar("tiered_statements", default=())
_log = get_logger("tiered.statements")


class RepeatedStatementError(InternalError):
    code = "REPEATED_STATEMENT"
    title = "Repeated Statement"
    slug = "repeated-statement"
    description = "One SQL statement repeated within a request: an N+1 query pattern (dev/test)."


class StatementRecorder:
    """The statements of one context, counted by shape.

    A context manager itself (``record_statements`` builds one), so the request
    guard activates it without a generator-based wrapper on every request; its
    lists are made by the first statement, since most requests of an API with a
    cache run none.
    """

    __slots__ = ("_reported", "_shapes", "_statements", "_token", "strict", "threshold")

    def __init__(self, threshold: int | None = None, strict: bool = True) -> None:
        self.threshold = threshold
        self.strict = strict
        self._statements: list[str] | None = None
        self._shapes: dict[str, int] | None = None
        self._reported: set[str] | None = None
        self._token: Token[tuple[StatementRecorder, ...]] | None = None

    @property
    def statements(self) -> list[str]:
        if self._statements is None:
            self._statements = []
        return self._statements

    @property
    def shapes(self) -> dict[str, int]:
        if self._shapes is None:
            self._shapes = {}
        return self._shapes

    @property
    def count(self) -> int:
        return len(self._statements or ())

    def record(self, statement: str) -> None:
        self.statements.append(statement)
        shapes = self.shapes
        seen = shapes.get(statement, 0) + 1
        shapes[statement] = seen
        if self.threshold is None or seen <= self.threshold:
            return
        if self.strict:
            raise RepeatedStatementError(
                f"A statement ran {seen} times in one request "
                f"(threshold {self.threshold}); load the relation eagerly."
            )
        if self._reported is None:
            self._reported = set()
        if statement not in self._reported:
            self._reported.add(statement)
            _log.warning("repeated_statement", statement=statement, threshold=self.threshold)

    def __enter__(self) -> StatementRecorder:
        outer = _active.get()
        self._token = _active.set((*outer, self) if outer else (self,))
        return self

    def __exit__(self, *_: object) -> None:
        if self._token is not None:
            _active.reset(self._token)
            self._token = None


def record_statements(threshold: int | None = None, *, strict: bool = True) -> StatementRecorder:
    """Record statements run in this context (nested recorders all see them)."""
    return StatementRecorder(threshold, strict=strict)


_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def report_statement(statement: str) -> None:
    """Show ``statement`` to the active recorders: for SQL run on a driver connection directly.

    The current request's guard sees it first, then every recorder opened in
    this context, outermost first.
    """
    recorders = _active.get()
    request = current_request()
    guard = None if request is None else request.guard
    if (guard is None and not recorders) or _is_transaction_control(statement):
        return
    if request is not None and guard is not None:
        if request.statements is None:
            request.statements = StatementRecorder(guard.threshold, guard.strict)
        request.statements.record(statement)
    for recorder in recorders:
        recorder.record(statement)


def _is_transaction_control(statement: str) -> bool:
    return statement.lstrip()[:9].upper().startswith(_TRANSACTION_CONTROL)


def _on_execute(connection: Any, cursor: Any, statement: str, *_args: Any) -> None:
    report_statement(statement)


def install_statement_listener(engine: AsyncEngine) -> None:
    if not event.contains(engine.sync_engine, "before_cursor_execute", _on_execute):
        event.listen(engine.sync_engine, "before_cursor_execute", _on_execute)
