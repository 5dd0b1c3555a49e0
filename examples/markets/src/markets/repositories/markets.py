"""Markets: the SQL repository and its in-memory twin."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import update

from markets.domain.markets import Market, MarketStatus
from markets.domain.users import User
from markets.repositories.tables import markets
from tiered.repository import InMemoryRepository, Repository, RepositoryConfig

__all__ = ["InMemoryMarketRepository", "MarketRepository"]


class _MarketDeclaration(RepositoryConfig[Market]):
    model_class = Market
    version_field = "version"
    not_found_code = "MARKET_NOT_FOUND"
    filter_fields = frozenset({"id", "status", "creator_id", "volume", "created_at"})
    sort_fields = frozenset({"volume", "created_at", "name"})
    search_fields = ("name", "description")
    relations = frozenset({"creator"})


class MarketRepository(_MarketDeclaration, Repository[Market]):
    async def add_volume(self, market_id: UUID, amount: Decimal) -> bool:
        """``volume = volume + amount`` in one statement, only while the market is active.

        Returns ``False`` when the market is missing or not active. The version
        is bumped too: the market's representation (and so its ETag) changed.
        """
        statement = (
            update(markets)
            .where(markets.c.id == market_id, markets.c.status == MarketStatus.ACTIVE)
            .values(volume=markets.c.volume + amount, version=markets.c.version + 1)
        )
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0))


class InMemoryMarketRepository(_MarketDeclaration, InMemoryRepository[Market]):
    foreign_keys: ClassVar[dict[str, tuple[type[Any], str]]] = {"creator": (User, "creator_id")}

    async def add_volume(self, market_id: UUID, amount: Decimal) -> bool:
        stored = self.stored(market_id)
        if stored is None or stored.status is not MarketStatus.ACTIVE:
            return False
        self.write(replace(stored, volume=stored.volume + amount, version=stored.version + 1))
        return True
