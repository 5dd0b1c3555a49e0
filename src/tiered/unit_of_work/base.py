"""What every unit of work does: commit or roll back as one, then run hooks.

After-commit hooks exist for side effects that must only happen once the data
is durable (cache invalidation, dispatching a job). A hook belongs to the
transaction or savepoint that registered it: a rolled-back savepoint drops its
hooks, a released one hands them to its parent, and only a commit runs them,
after the connection is released.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Self

from tiered.observability.logging import get_logger

__all__ = ["AfterCommitHook", "BaseUnitOfWork", "UnitOfWorkError"]

AfterCommitHook = Callable[[], Awaitable[None]]

_log = get_logger("tiered.unit_of_work")


class UnitOfWorkError(RuntimeError):
    """A unit of work used out of order: re-entered while active, or used while inactive."""


class BaseUnitOfWork(ABC):
    """``async with uow:`` commits on success and rolls back on error.

    ``async with uow.read_only():`` opens a transaction that only reads: it
    does not queue behind writers on SQLite, and PostgreSQL refuses writes in it.
    One instance runs one transaction at a time; it may be reused afterwards.
    """

    def __init__(self) -> None:
        self._frames: list[list[AfterCommitHook]] = []

    @property
    def active(self) -> bool:
        return bool(self._frames)

    async def __aenter__(self) -> Self:
        return await self._enter(read_only=False)

    def read_only(self) -> AbstractAsyncContextManager[Self]:
        """A transaction that only reads (``async with uow.read_only() as uow:``)."""
        return self._read_only()

    @asynccontextmanager
    async def _read_only(self) -> AsyncIterator[Self]:
        await self._enter(read_only=True)
        try:
            yield self
        except BaseException as error:
            await self._exit(error)
            raise
        await self._exit(None)

    async def _enter(self, *, read_only: bool) -> Self:
        if self._frames:
            raise UnitOfWorkError(
                f"{type(self).__name__} is already in a transaction; a unit of work runs one "
                "at a time (use savepoint() to nest, or another instance to run concurrently)"
            )
        self._frames = [[]]
        try:
            await self._begin(read_only=read_only)
        except BaseException:
            self._frames = []
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._exit(exc)

    async def _exit(self, error: BaseException | None) -> None:
        hooks: list[AfterCommitHook] = []
        try:
            if error is None:
                await self._commit()
                hooks = self._frames[0]
            else:
                await self._rollback()
        finally:
            self._frames = []
            await self._close()
        for hook in hooks:
            try:
                await hook()
            except Exception:
                _log.exception("after_commit_hook_failed", hook=getattr(hook, "__name__", "hook"))

    def after_commit(self, hook: AfterCommitHook) -> None:
        """Run ``hook`` once the transaction has committed; dropped if its savepoint rolls back."""
        self._require_active("after_commit")
        self._frames[-1].append(hook)

    def savepoint(self) -> AbstractAsyncContextManager[Self]:
        """A nested transaction: an error inside undoes only what it did, hooks included."""
        self._require_active("savepoint")
        return self._savepoint_scope()

    @asynccontextmanager
    async def _savepoint_scope(self) -> AsyncIterator[Self]:
        self._frames.append([])
        try:
            async with self._savepoint():
                yield self
        except BaseException:
            self._frames.pop()
            raise
        hooks = self._frames.pop()
        self._frames[-1].extend(hooks)

    def _require_active(self, action: str) -> None:
        if not self._frames:
            raise UnitOfWorkError(f"{action}() needs an active transaction: use `async with uow:`")

    @abstractmethod
    def _savepoint(self) -> AbstractAsyncContextManager[object]:
        """The backend's nested transaction."""

    @abstractmethod
    async def _begin(self, *, read_only: bool) -> None:
        """Open the transaction and create the repositories on it."""

    @abstractmethod
    async def _commit(self) -> None:
        """Make the transaction's work durable."""

    @abstractmethod
    async def _rollback(self) -> None:
        """Undo the transaction's work."""

    async def _close(self) -> None:
        return None
