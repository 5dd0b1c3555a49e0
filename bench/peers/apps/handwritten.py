"""FastAPI + SQLAlchemy 2 ORM, written the way their documentation shows.

Declarative models over the markets tables, a session per request from a
dependency, ``selectinload`` for the creator, and pydantic response models
that FastAPI fills from the returned ORM objects (``response_model``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from columns import Money, UtcDateTime
from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload

__all__ = ["app"]


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool]
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Market(Base):
    __tablename__ = "markets"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str]
    creator_id: Mapped[UUID] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(16))
    volume: Mapped[Decimal] = mapped_column(Money())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int]

    creator: Mapped[User] = relationship(lazy="raise")


class CreatorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    display_name: str


class MarketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    status: str
    outcome: str | None
    volume: Decimal
    created_at: datetime
    updated_at: datetime
    creator: CreatorOut


class MarketDetailOut(MarketOut):
    description: str
    version: int


class PageMeta(BaseModel):
    total: int
    limit: int
    offset: int


class MarketPage(BaseModel):
    data: list[MarketOut]
    meta: PageMeta


class Health(BaseModel):
    status: str
    checks: dict[str, str]


engine = create_async_engine(os.environ["BENCH_DATABASE_URL"])
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    await engine.dispose()


app = FastAPI(title="markets (hand-written)", lifespan=lifespan)


@app.get("/health/live")
async def live() -> Health:
    return Health(status="ok", checks={})


@app.get("/api/v1/markets", response_model=MarketPage)
async def list_markets(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, object]:
    visible = Market.status != "draft"
    total = await session.scalar(select(func.count()).select_from(Market).where(visible))
    markets = await session.scalars(
        select(Market)
        .where(visible)
        .options(selectinload(Market.creator))
        .order_by(Market.created_at.desc(), Market.id)
        .limit(limit)
        .offset(offset)
    )
    return {
        "data": markets.all(),
        "meta": {"total": total or 0, "limit": limit, "offset": offset},
    }


@app.get("/api/v1/markets/{market_id}", response_model=MarketDetailOut)
async def get_market(market_id: UUID, session: SessionDep) -> Market:
    market = await session.get(Market, market_id, options=[selectinload(Market.creator)])
    if market is None or market.status == "draft":
        raise HTTPException(status_code=404, detail="Market not found")
    return market
