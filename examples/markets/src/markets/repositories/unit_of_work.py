"""The markets unit of work, over SQL or in memory, and the port services use."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from markets.domain.markets import Market
from markets.domain.positions import Position
from markets.domain.users import ApiKey, User
from markets.repositories.api_keys import ApiKeyCredential, ApiKeyRepository
from markets.repositories.markets import MarketRepository
from markets.repositories.positions import PositionRepository
from markets.repositories.refresh_tokens import RefreshTokenRepository
from markets.repositories.tables import map_entities
from markets.repositories.users import UserRepository
from tiered.repository import AsyncRepository, InMemorySession
from tiered.security import RefreshTokenStore, StoredApiKey
from tiered.unit_of_work import AfterCommitHook, InMemoryUnitOfWork, UnitOfWork

__all__ = [
    "ApiKeyRepositoryPort",
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


class ApiKeyRepositoryPort(AsyncRepository[ApiKey], Protocol):
    async def find_credential(self, prefix: str) -> ApiKeyCredential | None: ...

    async def find_by_prefix(self, prefix: str) -> StoredApiKey | None: ...

    async def record_use(self, key_id: str, at: datetime) -> None: ...

    async def count_active(self, user_id: UUID) -> int: ...

    async def revoke(self, user_id: UUID, key_id: UUID, at: datetime) -> bool: ...


class MarketsUnitOfWorkPort(Protocol):
    @property
    def users(self) -> UserRepositoryPort: ...

    @property
    def markets(self) -> MarketRepositoryPort: ...

    @property
    def positions(self) -> AsyncRepository[Position]: ...

    @property
    def api_keys(self) -> ApiKeyRepositoryPort: ...

    @property
    def refresh_tokens(self) -> RefreshTokenStore: ...

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


class MarketsRepositories:
    """The repositories of a markets unit of work, on either backend."""

    users: UserRepository
    markets: MarketRepository
    positions: PositionRepository
    api_keys: ApiKeyRepository
    refresh_tokens: RefreshTokenRepository

    def create_repositories(self, session: AsyncSession | InMemorySession) -> None:
        self.users = UserRepository(session)
        self.markets = MarketRepository(session)
        self.positions = PositionRepository(session)
        self.api_keys = ApiKeyRepository(session)
        self.refresh_tokens = RefreshTokenRepository(session)


class MarketsUnitOfWork(MarketsRepositories, UnitOfWork):
    """On the app's database."""


class InMemoryMarketsUnitOfWork(MarketsRepositories, InMemoryUnitOfWork):
    """On an in-memory store, for unit tests."""
