"""``@database_write``: a function that writes to the database, which retries must refuse.

Retrying a database write from the outside repeats effects the first attempt
may already have committed (a timeout does not say whether the commit
happened), and retrying inside a failed transaction retries on a session
that must be rolled back first. A write is made safe to repeat by an
idempotent design (a unique key, an upsert, an outbox row), not by a retry
loop, so marking a function here makes every retry helper refuse it with a
``ConfigurationError`` at wrap time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["database_write", "is_database_write"]

_MARK = "__tiered_database_write__"
_F = TypeVar("_F", bound=Callable[..., Any])


def database_write(function: _F) -> _F:
    """Mark ``function`` as one that writes to the database (it is returned unchanged)."""
    setattr(function, _MARK, True)
    return function


def is_database_write(function: Callable[..., Any]) -> bool:
    """Whether ``function`` (or what a ``partial`` or bound method wraps) is marked."""
    while isinstance(function, functools.partial):
        function = function.func
    return bool(getattr(function, _MARK, False))
