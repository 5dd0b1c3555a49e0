"""The database-error boundary every repository operation passes through.

A repository method may fail in the driver (a NUL byte PostgreSQL refuses, a
lost connection, a version conflict found at flush); callers must only ever
see the application error it means. Methods of :class:`Repository` and of its
subclasses are wrapped automatically (``__init_subclass__``), so a custom query
cannot forget the boundary.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, ParamSpec, TypeVar

from sqlalchemy.orm.exc import StaleDataError

from tiered.errors import AppError, StaleVersionError, is_database_error, raise_translated

__all__ = ["database_boundary", "guard_coroutines", "raise_for_database"]

P = ParamSpec("P")
R = TypeVar("R")

_GUARDED = "__tiered_database_boundary__"


def raise_for_database(error: Exception, subject: str = "The resource") -> NoReturn:
    """Re-raise ``error`` as the application error it means; anything else unchanged."""
    if isinstance(error, StaleDataError):
        raise StaleVersionError.of(subject) from error
    if not isinstance(error, AppError) and is_database_error(error):
        raise_translated(error)
    raise error


def database_boundary(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Translate database errors raised by ``method`` (idempotent)."""
    if getattr(method, _GUARDED, False):
        return method

    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except AppError:
            raise
        except Exception as error:
            subject = _subject(args)
            raise_for_database(error, subject)

    setattr(guarded, _GUARDED, True)
    return guarded


def _subject(args: tuple[Any, ...]) -> str:
    entity_name = getattr(args[0], "entity_name", None) if args else None
    return entity_name() if callable(entity_name) else "The resource"


def guard_coroutines(cls: type[Any]) -> None:
    """Wrap every coroutine method defined on ``cls`` itself (dunders excepted)."""
    for name, value in list(vars(cls).items()):
        if not name.startswith("__") and inspect.iscoroutinefunction(value):
            setattr(cls, name, database_boundary(value))
