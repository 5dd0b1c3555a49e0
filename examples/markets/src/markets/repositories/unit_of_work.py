"""The markets unit of work, over SQL or in memory, and the port services use."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Protocol, Self, cast
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from markets.domain.markets import Market
from markets.domain.notifications import DeliveryResult, Notification
from markets.domain.positions import Position
from markets.domain.users import ApiKey, User
from markets.repositories.api_keys import ApiKeyCredential, ApiKeyRepository
from markets.repositories.job_outbox import JobOutbox, JobOutboxPort
from markets.repositories.markets import MarketRepository
from markets.repositories.notifications import NotificationRepository
from markets.repositories.positions import PositionRepository
from markets.repositories.refresh_tokens import RefreshTokenRepository
from markets.repositories.tables import JOB_TABLES, map_entities
from markets.repositories.users import UserRepository
from tiered.jobs import EnqueuesJobs, InMemoryJobQueue, JobQueue, SupportsAfterCommit
from tiered.repository import AsyncRepository, InMemorySession, InMemoryStore
from tiered.security import RefreshTokenStore, StoredApiKey
from tiered.unit_of_work import AfterCommitHook, InMemoryUnitOfWork, UnitOfWork

__all__ = [
    "ApiKeyRepositoryPort",
    "InMemoryMarketsUnitOfWork",
    "MarketRepositoryPort",
    "MarketsUnitOfWork",
    "MarketsUnitOfWorkPort",
    "NotificationRepositoryPort",
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


class NotificationRepositoryPort(AsyncRepository[Notification], Protocol):
    async def record_deliveries(
        self, notification_id: UUID, deliveries: tuple[DeliveryResult, ...]
    ) -> bool: ...


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

    @property
    def notifications(self) -> NotificationRepositoryPort: ...

    @property
    def jobs(self) -> JobOutboxPort:
        """Jobs written in this transaction: they exist once it commits, never if it fails."""
        ...

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


_OUTBOX = JobQueue(JOB_TABLES)
"""Enqueues without waking a worker: workers find the jobs on their next poll."""


class MarketsRepositories:
    """The repositories of a markets unit of work, on either backend, and its job outbox."""

    users: UserRepository
    markets: MarketRepository
    positions: PositionRepository
    api_keys: ApiKeyRepository
    refresh_tokens: RefreshTokenRepository
    notifications: NotificationRepository
    jobs: JobOutbox
    job_queue: EnqueuesJobs

    def create_repositories(self, session: AsyncSession | InMemorySession) -> None:
        self.users = UserRepository(session)
        self.markets = MarketRepository(session)
        self.positions = PositionRepository(session)
        self.api_keys = ApiKeyRepository(session)
        self.refresh_tokens = RefreshTokenRepository(session)
        self.notifications = NotificationRepository(session)
        self.jobs = JobOutbox(self.job_queue, cast("SupportsAfterCommit", self))


class MarketsUnitOfWork(MarketsRepositories, UnitOfWork):
    """On the app's database; ``jobs`` is the app's queue (one that wakes its worker)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        jobs: EnqueuesJobs | None = None,
    ) -> None:
        super().__init__(sessionmaker)
        self.job_queue = jobs or _OUTBOX


class InMemoryMarketsUnitOfWork(MarketsRepositories, InMemoryUnitOfWork):
    """On an in-memory store, for unit tests; committed jobs land in an ``InMemoryJobQueue``."""

    def __init__(self, store: InMemoryStore | None = None, *, jobs: EnqueuesJobs | None = None):
        super().__init__(store)
        self.job_queue = jobs if jobs is not None else InMemoryJobQueue()
