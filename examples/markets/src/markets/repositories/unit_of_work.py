"""The markets unit of work, over SQL or in memory, and the port services use."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from markets.domain.markets import Market
from markets.domain.positions import Position
from markets.domain.users import User
from markets.repositories.markets import InMemoryMarketRepository, MarketRepository
from markets.repositories.positions import InMemoryPositionRepository, PositionRepository
from markets.repositories.tables import map_entities
from markets.repositories.users import InMemoryUserRepository, UserRepository
from tiered.repository import AsyncRepository, InMemorySession
from tiered.unit_of_work import AfterCommitHook, InMemoryUnitOfWork, UnitOfWork

__all__ = [
    "InMemoryMarketsUnitOfWork",
    "MarketRepositoryPort",
    "MarketsUnitOfWork",
    "MarketsUnitOfWorkPort",
    "UserRepositoryPort",
]

map_entities()


class MarketRepositoryPort(AsyncRepository[Market], Protocol):
    async def add_volume(self, market_id: UUID, amount: Decimal) -> bool: ...


class UserRepositoryPort(AsyncRepository[User], Protocol):
    async def get_by_email(self, email: str) -> User | None: ...


class MarketsUnitOfWorkPort(Protocol):
    @property
    def users(self) -> UserRepositoryPort: ...

    @property
    def markets(self) -> MarketRepositoryPort: ...

    @property
    def positions(self) -> AsyncRepository[Position]: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def after_commit(self, hook: AfterCommitHook) -> None: ...

    def savepoint(self) -> AbstractAsyncContextManager[object]: ...

    def read_only(self) -> AbstractAsyncContextManager[Self]: ...


class MarketsUnitOfWork(UnitOfWork):
    users: UserRepository
    markets: MarketRepository
    positions: PositionRepository

    def bind(self, session: AsyncSession) -> None:
        self.users = UserRepository(session)
        self.markets = MarketRepository(session)
        self.positions = PositionRepository(session)


class InMemoryMarketsUnitOfWork(InMemoryUnitOfWork):
    users: InMemoryUserRepository
    markets: InMemoryMarketRepository
    positions: InMemoryPositionRepository

    def bind(self, session: InMemorySession) -> None:
        self.users = InMemoryUserRepository(session)
        self.markets = InMemoryMarketRepository(session)
        self.positions = InMemoryPositionRepository(session)
