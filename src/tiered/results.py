"""``Result`` for outcomes where failure is normal, not exceptional.

Retries, deduplication and deliveries fail as part of their job; returning
``Err`` makes the caller handle that path instead of forgetting an ``except``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, NoReturn, TypeAlias, TypeVar

__all__ = ["Err", "Ok", "Result", "UnwrapError"]

T_co = TypeVar("T_co", covariant=True)
E_co = TypeVar("E_co", covariant=True, bound=BaseException)


class UnwrapError(RuntimeError):
    """``value`` was read from an ``Err`` (or ``error`` from an ``Ok``)."""


@dataclass(frozen=True, slots=True)
class Ok(Generic[T_co]):
    value: T_co

    @property
    def success(self) -> Literal[True]:
        return True

    @property
    def error(self) -> NoReturn:
        raise UnwrapError("Ok has no error")


@dataclass(frozen=True, slots=True)
class Err(Generic[E_co]):
    error: E_co

    @property
    def success(self) -> Literal[False]:
        return False

    @property
    def value(self) -> NoReturn:
        raise UnwrapError(f"Err has no value: {self.error!r}") from self.error


Result: TypeAlias = Ok[T_co] | Err[E_co]
