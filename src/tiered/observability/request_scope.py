"""The request a piece of code runs in: its id, its caller, and its N+1 guard's tally.

The request-context middleware enters one :class:`RequestScope` per request;
log lines read the id (and the caller, once `record_principal` has named it)
from it, the database's statement listener counts the request's statements in
it. They share one context variable because setting and resetting one is a cost
every request pays, and a guard of its own (an object and a variable per
request) cost more than the guard's checks. Context variables follow
``asyncio`` tasks: concurrent requests never see each other's scope.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from tiered.db.statements import StatementRecorder

__all__ = [
    "RequestScope",
    "StatementGuard",
    "current_request",
    "enter_request",
    "leave_request",
    "record_principal",
]


@dataclass(frozen=True, slots=True)
class StatementGuard:
    """The N+1 guard of every request: how often one statement may repeat, and
    whether repeating it more fails the request (``strict``) or is only logged."""

    threshold: int
    strict: bool = True


class RequestScope:
    """One request, as code running inside it sees it.

    ``statements`` is made by the request's first SQL statement, when a
    ``guard`` is set: most reads of an API with a cache run none.
    """

    __slots__ = ("guard", "principal_id", "request_id", "statements")

    def __init__(self, request_id: str, guard: StatementGuard | None = None) -> None:
        self.request_id = request_id
        self.guard = guard
        self.principal_id: str | None = None
        self.statements: StatementRecorder | None = None


_CURRENT: Final[ContextVar[RequestScope | None]] = ContextVar("tiered_request", default=None)


def enter_request(scope: RequestScope) -> Token[RequestScope | None]:
    """Make ``scope`` the current request until `leave_request` is given the token."""
    return _CURRENT.set(scope)


def leave_request(token: Token[RequestScope | None]) -> None:
    _CURRENT.reset(token)


def current_request() -> RequestScope | None:
    return _CURRENT.get()


def record_principal(principal_id: str) -> None:
    """Name the caller of the current request: on its access line, and on every line
    logged in the request from now on. Outside a request it does nothing."""
    request = _CURRENT.get()
    if request is not None:
        request.principal_id = principal_id
