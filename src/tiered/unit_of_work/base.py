"""What every unit of work does: commit or roll back as one, then run hooks.

After-commit hooks exist for side effects that must only happen once the data
is durable (cache invalidation, dispatching a job): a hook registered in a
transaction that rolls back never runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Self

from tiered.observability.logging import get_logger

__all__ = ["AfterCommitHook", "BaseUnitOfWork"]

AfterCommitHook = Callable[[], Awaitable[None]]

_log = get_logger("tiered.unit_of_work")


class BaseUnitOfWork(ABC):
    """``async with uow:`` commits on success and rolls back on error."""

    def __init__(self) -> None:
        self._hooks: list[AfterCommitHook] = []

    async def __aenter__(self) -> Self:
        self._hooks = []
        await self._begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                await self.commit()
            else:
                await self.rollback()
        finally:
            await self._close()

    def after_commit(self, hook: AfterCommitHook) -> None:
        """Run ``hook`` once the transaction has committed; dropped on rollback."""
        self._hooks.append(hook)

    async def commit(self) -> None:
        await self._commit()
        hooks, self._hooks = self._hooks, []
        for hook in hooks:
            try:
                await hook()
            except Exception:
                _log.exception("after_commit_hook_failed", hook=getattr(hook, "__name__", "hook"))

    async def rollback(self) -> None:
        self._hooks = []
        await self._rollback()

    @abstractmethod
    def savepoint(self) -> AbstractAsyncContextManager[object]:
        """A nested transaction: an error inside undoes only what it did."""

    @abstractmethod
    async def _begin(self) -> None:
        """Open the transaction and bind the repositories."""

    @abstractmethod
    async def _commit(self) -> None:
        """Make the transaction's work durable."""

    @abstractmethod
    async def _rollback(self) -> None:
        """Undo the transaction's work."""

    async def _close(self) -> None:
        return None
