"""The SQLAlchemy unit of work: one session, one transaction, repositories bound to it."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from tiered.errors import StaleVersionError, raise_translated
from tiered.unit_of_work.base import BaseUnitOfWork

__all__ = ["UnitOfWork"]


class UnitOfWork(BaseUnitOfWork):
    """Subclass and override :meth:`bind` to create the repositories::

    class MarketsUnitOfWork(UnitOfWork):
        markets: MarketRepository

        def bind(self, session: AsyncSession) -> None:
            self.markets = MarketRepository(session)
    """

    session: AsyncSession

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        super().__init__()
        self._sessionmaker = sessionmaker

    def bind(self, session: AsyncSession) -> None:
        """Create repositories on ``session``; called on every ``async with``."""

    async def _begin(self) -> None:
        self.session = self._sessionmaker()
        await self.session.begin()
        self.bind(self.session)

    async def _commit(self) -> None:
        try:
            await self.session.commit()
        except StaleDataError as error:
            raise StaleVersionError("The resource was changed by another writer.") from error
        except DBAPIError as error:
            raise_translated(error)

    async def _rollback(self) -> None:
        await self.session.rollback()

    async def _close(self) -> None:
        await self.session.close()

    def savepoint(self) -> AbstractAsyncContextManager[object]:
        return self.session.begin_nested()
