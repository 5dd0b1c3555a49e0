"""The SQLAlchemy unit of work: one session, one transaction, repositories bound to it."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tiered.db.writer_lock import BEGIN_OPTION, WriterLock, writer_lock
from tiered.errors import DatabaseUnavailableError
from tiered.repository.boundary import raise_for_database
from tiered.unit_of_work.base import BaseUnitOfWork, UnitOfWorkError
from tiered.unit_of_work.read_only import mark_read_only, reads_in_autocommit

__all__ = ["UnitOfWork"]

DEFAULT_WRITER_WAIT = 30.0
"""Seconds a SQLite writer queues behind the others before giving up with a 503."""


class UnitOfWork(BaseUnitOfWork):
    """Subclass and override :meth:`create_repositories` to create the repositories::

    class MarketsUnitOfWork(UnitOfWork):
        markets: MarketRepository

        def create_repositories(self, session: AsyncSession) -> None:
            self.markets = MarketRepository(session)

    On SQLite, writing transactions queue (an in-process lock, then
    ``BEGIN IMMEDIATE``) instead of failing with "database is locked";
    :meth:`read_only` transactions do not queue.
    """

    session: AsyncSession

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        writer_wait: float = DEFAULT_WRITER_WAIT,
    ) -> None:
        super().__init__()
        self._sessionmaker = sessionmaker
        self._writer_wait = writer_wait
        self._lock: WriterLock | None = None
        self._reads_only = False

    def create_repositories(self, session: AsyncSession) -> None:
        """Create repositories on ``session``; called on every ``async with``."""

    async def _begin(self, *, read_only: bool) -> None:
        self._reads_only = read_only
        session = self._sessionmaker()
        try:
            await self._start(session, read_only=read_only)
        except BaseException as error:
            await self._release()
            await session.close()
            if isinstance(error, Exception):
                raise_for_database(error)
            raise
        self.session = session
        self.create_repositories(session)

    async def _start(self, session: AsyncSession, *, read_only: bool) -> None:
        bind = session.get_bind()
        dialect = bind.dialect.name
        if dialect == "sqlite" and not read_only:
            lock = writer_lock(bind.engine)
            if lock.held_by_current_task():
                raise UnitOfWorkError(
                    "this task already writes to this SQLite database through another unit "
                    "of work; a second writer would wait for itself (finish the first, or "
                    "open this one with read_only())"
                )
            try:
                async with asyncio.timeout(self._writer_wait):
                    await lock.acquire()
            except TimeoutError as error:
                raise DatabaseUnavailableError(
                    "The database is busy with other writes; retry shortly."
                ) from error
            self._lock = lock
            await session.connection(execution_options={BEGIN_OPTION: "IMMEDIATE"})
            return
        if read_only:
            mark_read_only(session.sync_session)
        if dialect == "sqlite":
            await session.connection(execution_options={BEGIN_OPTION: "NONE"})
        elif dialect == "postgresql" and read_only and reads_in_autocommit(bind.engine):
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        elif dialect == "postgresql" and read_only:
            await session.connection(execution_options={"postgresql_readonly": True})
        else:
            await session.connection()

    async def _release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    async def _commit(self) -> None:
        if self._reads_only:
            return  # nothing to keep: closing the session ends its transaction, if any
        try:
            await self.session.commit()
        except Exception as error:
            raise_for_database(error)

    async def _rollback(self) -> None:
        await self.session.rollback()

    async def _close(self) -> None:
        try:
            await self.session.close()
        finally:
            await self._release()

    def _savepoint(self) -> AbstractAsyncContextManager[object]:
        return self.session.begin_nested()
