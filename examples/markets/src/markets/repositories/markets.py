"""Markets: one repository, on SQL or in memory."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from markets.domain.markets import Market, MarketStatus
from tiered.repository import Filter, Increment, Repository

__all__ = ["MarketRepository"]


class MarketRepository(Repository[Market]):
    model_class = Market
    not_found_code = "MARKET_NOT_FOUND"
    filter_fields = frozenset({"status", "creator_id"})
    sort_fields = frozenset({"volume", "created_at", "name"})
    search_fields = ("name", "description")

    async def add_volume(self, market_id: UUID, amount: Decimal) -> bool:
        """``volume = volume + amount`` in one statement, only while the market is active.

        Returns ``False`` when the market is missing or not active. The version
        is bumped too: the market's representation (and so its ETag) changed.
        """
        active = [Filter.eq("id", market_id), Filter.eq("status", MarketStatus.ACTIVE)]
        return await self.update_where(active, {"volume": Increment(amount)}) == 1
