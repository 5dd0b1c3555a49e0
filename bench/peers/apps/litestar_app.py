"""Litestar + advanced-alchemy, written the way their documentation shows.

Models on advanced-alchemy's declarative base and column types, a repository
service provided per request by ``providers.create_service_dependencies``
(which also loads the creator with ``selectinload``), the plugin's session
handling, and msgspec response schemas filled by ``service.to_schema``.
"""

from __future__ import annotations

import os
from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

import msgspec
from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
    base,
    filters,
    providers,
    repository,
    service,
)
from advanced_alchemy.types import GUID, DateTimeUTC
from columns import Money
from litestar import Controller, Litestar, get
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload

__all__ = ["create_app"]


class UserModel(base.DefaultBase):
    __tablename__ = "users"

    id: Mapped[UUID] = mapped_column(GUID(binary=False), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool]
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class MarketModel(base.DefaultBase):
    __tablename__ = "markets"

    id: Mapped[UUID] = mapped_column(GUID(binary=False), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str]
    creator_id: Mapped[UUID] = mapped_column(GUID(binary=False), ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(16))
    volume: Mapped[Decimal] = mapped_column(Money())
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    version: Mapped[int]

    creator: Mapped[UserModel] = relationship(lazy="raise", viewonly=True)


class Creator(msgspec.Struct):
    id: UUID
    display_name: str


class MarketSummary(msgspec.Struct):
    id: UUID
    name: str
    status: str
    outcome: str | None
    volume: Decimal
    created_at: datetime
    updated_at: datetime
    creator: Creator


class MarketDetail(msgspec.Struct):
    id: UUID
    name: str
    status: str
    outcome: str | None
    volume: Decimal
    created_at: datetime
    updated_at: datetime
    creator: Creator
    description: str
    version: int


class Health(msgspec.Struct):
    status: str
    checks: dict[str, str]


class MarketService(service.SQLAlchemyAsyncRepositoryService[MarketModel]):
    class Repo(repository.SQLAlchemyAsyncRepository[MarketModel]):
        model_type = MarketModel

    repository_type = Repo


_VISIBLE = MarketModel.status != "draft"


class MarketController(Controller):
    path = "/api/v1/markets"
    dependencies = providers.create_service_dependencies(
        MarketService, "markets_service", load=[selectinload(MarketModel.creator)]
    )

    @get("/")
    async def list_markets(
        self,
        markets_service: MarketService,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
        offset: Annotated[int, Parameter(ge=0)] = 0,
    ) -> service.OffsetPagination[MarketSummary]:
        page = filters.LimitOffset(limit=limit, offset=offset)
        results, total = await markets_service.list_and_count(
            _VISIBLE, page, order_by=[("created_at", True), ("id", False)]
        )
        return markets_service.to_schema(results, total, filters=[page], schema_type=MarketSummary)

    @get("/{market_id:uuid}")
    async def get_market(self, markets_service: MarketService, market_id: UUID) -> MarketDetail:
        market = await markets_service.get_one_or_none(MarketModel.id == market_id, _VISIBLE)
        if market is None:
            raise NotFoundException(detail="Market not found")
        return markets_service.to_schema(market, schema_type=MarketDetail)


@get("/health/live")
async def live() -> Health:
    return Health(status="ok", checks={})


def create_app() -> Litestar:
    config = SQLAlchemyAsyncConfig(
        connection_string=os.environ["BENCH_DATABASE_URL"],
        before_send_handler="autocommit",
        session_config=AsyncSessionConfig(expire_on_commit=False),
    )
    return Litestar(
        route_handlers=[MarketController, live],
        plugins=[SQLAlchemyPlugin(config=config)],
    )
