"""Buying positions: the position and the market's volume change together or not at all."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID, uuid4

from markets.domain.errors import MarketNotActiveError, MarketNotFoundError, PositionNotFoundError
from markets.domain.positions import Position, Side
from markets.domain.users import Actor
from markets.repositories.tables import MONEY
from markets.repositories.unit_of_work import MarketsUnitOfWorkPort
from markets.services.markets import MarketDetailCache
from markets.services.read_models import PositionDetail, PositionView
from tiered.cache import Cache
from tiered.clock import Clock, SystemClock
from tiered.errors import FieldError, InvalidInputError
from tiered.repository import Filter, OffsetPage, Page, PageRequest, SortKey

__all__ = ["PositionService"]

_FIRST_PAGE = OffsetPage()
_NEWEST_FIRST = (SortKey("created_at", descending=True),)


class PositionService:
    """Positions are read through their market: whoever cannot see it cannot see them."""

    def __init__(
        self,
        uow: MarketsUnitOfWorkPort,
        clock: Clock | None = None,
        *,
        cache: Cache | None = None,
    ) -> None:
        self.uow = uow
        self.clock = clock or SystemClock()
        self.market_details = MarketDetailCache(cache)

    async def buy(self, actor: Actor, market_id: UUID, side: Side, amount: Decimal) -> Position:
        """One transaction: insert the position, then ``volume = volume + amount``.

        The volume update is conditional on the market being active, in the same
        statement, so a market closed concurrently can never take a position, and
        concurrent buys never lose an increment. The market's cached detail (its
        volume) is dropped once the purchase commits.
        """
        amount = MONEY.check(amount)
        if amount <= 0:
            raise InvalidInputError(
                "amount must be greater than 0.",
                code="INVALID_AMOUNT",
                errors=[FieldError("/amount", "greater than 0")],
            )
        async with self.uow as uow:
            await self._visible_market(uow, actor, market_id)
            position = Position(
                uuid4(), market_id, actor.user_id, side, amount, created_at=self.clock.now()
            )
            if not await uow.markets.add_volume(market_id, amount):
                raise MarketNotActiveError(market_id)
            await uow.positions.create(position)
            self.market_details.invalidate_after_commit(uow, market_id)
            return position

    async def of_market(
        self,
        viewer: Actor | None,
        market_id: UUID,
        *,
        filters: tuple[Filter, ...] = (),
        sort: tuple[SortKey, ...] = _NEWEST_FIRST,
        page: PageRequest = _FIRST_PAGE,
    ) -> Page[PositionDetail]:
        """The positions taken on a market ``viewer`` can see (a 404 otherwise)."""
        async with self.uow.read_only() as uow:
            await self._visible_market(uow, viewer, market_id)
            return await uow.positions.find(
                (*filters, Filter.eq("market_id", market_id)),
                sort=sort,
                page=page,
                into=PositionDetail,
            )

    async def get(self, viewer: Actor | None, market_id: UUID, position_id: UUID) -> PositionDetail:
        """One position of a market ``viewer`` can see; one of another market is a 404."""
        async with self.uow.read_only() as uow:
            await self._visible_market(uow, viewer, market_id)
            found = await uow.positions.find_one(
                [Filter.eq("id", position_id), Filter.eq("market_id", market_id)],
                into=PositionDetail,
            )
        if found is None:
            raise PositionNotFoundError(position_id)
        return found

    async def of_user(
        self,
        actor: Actor,
        *,
        filters: tuple[Filter, ...] = (),
        sort: tuple[SortKey, ...] = _NEWEST_FIRST,
        page: PageRequest = _FIRST_PAGE,
    ) -> Page[PositionView]:
        """``actor``'s own positions, each with its market: a join, never a query per row."""
        async with self.uow.read_only() as uow:
            return await uow.positions.find(
                (*filters, Filter.eq("user_id", actor.user_id)),
                sort=sort,
                page=page,
                into=PositionView,
            )

    @staticmethod
    async def _visible_market(
        uow: MarketsUnitOfWorkPort, viewer: Actor | None, market_id: UUID
    ) -> None:
        market = await uow.markets.get_by_id(market_id)
        if market is None or not market.visible_to(viewer):
            raise MarketNotFoundError(market_id)
