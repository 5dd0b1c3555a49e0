"""The in-memory unit of work: one :class:`InMemorySession` per transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from tiered.repository.memory_session import InMemorySession, InMemoryStore
from tiered.unit_of_work.base import BaseUnitOfWork
from tiered.unit_of_work.read_only import refused_write

__all__ = ["InMemoryUnitOfWork"]


class InMemoryUnitOfWork(BaseUnitOfWork):
    """Override :meth:`create_repositories` to create in-memory repositories on the session.

    Units of work on one store are isolated as database transactions are: each
    sees its own writes, others see them after commit, and a rollback discards
    exactly its own work. ``commits`` counts successful commits so unit tests
    can assert that a use case committed (or did not).
    """

    session: InMemorySession

    def __init__(self, store: InMemoryStore | None = None) -> None:
        super().__init__()
        self.store = store or InMemoryStore()
        self.commits = 0

    def create_repositories(self, session: InMemorySession) -> None:
        """Create repositories on ``session``; called on every ``async with``."""

    async def _begin(self, *, read_only: bool) -> None:
        self.session = InMemorySession(self.store)
        if read_only:
            self.session.refuse_writes = lambda: refused_write("write")
        self.create_repositories(self.session)

    async def _commit(self) -> None:
        self.session.commit()
        self.commits += 1

    async def _rollback(self) -> None:
        self.session.rollback()

    def _savepoint(self) -> AbstractAsyncContextManager[object]:
        return self._session_savepoint()

    @asynccontextmanager
    async def _session_savepoint(self) -> AsyncIterator[object]:
        with self.session.savepoint():
            yield self
