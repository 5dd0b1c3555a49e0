"""The in-memory unit of work: snapshot on begin, restore on rollback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from tiered.repository.memory import InMemoryStore
from tiered.unit_of_work.base import BaseUnitOfWork

__all__ = ["InMemoryUnitOfWork"]


class InMemoryUnitOfWork(BaseUnitOfWork):
    """Override :meth:`bind` to create in-memory repositories on ``store``.

    ``commits`` counts successful commits so unit tests can assert that a use
    case committed (or did not).
    """

    def __init__(self, store: InMemoryStore | None = None) -> None:
        super().__init__()
        self.store = store or InMemoryStore()
        self.commits = 0
        self._snapshot: dict[type[Any], dict[Any, Any]] = {}

    def bind(self, store: InMemoryStore) -> None:
        """Create repositories on ``store``; called on every ``async with``."""

    async def _begin(self) -> None:
        self._snapshot = self.store.snapshot()
        self.bind(self.store)

    async def _commit(self) -> None:
        self.commits += 1
        self._snapshot = self.store.snapshot()

    async def _rollback(self) -> None:
        self.store.restore(self._snapshot)

    def savepoint(self) -> AbstractAsyncContextManager[object]:
        return self._savepoint()

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[object]:
        before = self.store.snapshot()
        try:
            yield self
        except BaseException:
            self.store.restore(before)
            raise
