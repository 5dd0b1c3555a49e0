"""Buying positions: the position and the market's volume change together or not at all."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID, uuid4

from markets.domain.errors import MarketNotActiveError, MarketNotFoundError
from markets.domain.positions import Position, Side
from markets.domain.users import Actor
from markets.repositories.tables import MONEY
from markets.repositories.unit_of_work import MarketsUnitOfWorkPort
from markets.services.read_models import PositionView
from tiered.clock import Clock, SystemClock
from tiered.errors import InvalidInputError
from tiered.repository import Filter, OffsetPage, Page, PageRequest, SortKey

__all__ = ["PositionService"]

_FIRST_PAGE = OffsetPage()


class PositionService:
    def __init__(self, uow: MarketsUnitOfWorkPort, clock: Clock | None = None) -> None:
        self.uow = uow
        self.clock = clock or SystemClock()

    async def buy(self, actor: Actor, market_id: UUID, side: Side, amount: Decimal) -> Position:
        """One transaction: insert the position, then ``volume = volume + amount``.

        The volume update is conditional on the market being active, in the same
        statement, so a market closed concurrently can never take a position, and
        concurrent buys never lose an increment.
        """
        amount = MONEY.check(amount)
        if amount <= 0:
            raise InvalidInputError("amount must be greater than 0.", code="INVALID_AMOUNT")
        async with self.uow as uow:
            market = await uow.markets.get_by_id(market_id)
            if market is None or not market.visible_to(actor):
                raise MarketNotFoundError(market_id)
            position = Position(
                uuid4(), market_id, actor.user_id, side, amount, created_at=self.clock.now()
            )
            if not await uow.markets.add_volume(market_id, amount):
                raise MarketNotActiveError(market_id)
            await uow.positions.create(position)
            return position

    async def of_user(
        self,
        actor: Actor,
        *,
        sort: tuple[SortKey, ...] = (SortKey("created_at", descending=True),),
        page: PageRequest = _FIRST_PAGE,
    ) -> Page[PositionView]:
        async with self.uow.read_only() as uow:
            return await uow.positions.find(
                [Filter.eq("user_id", actor.user_id)], sort=sort, page=page, into=PositionView
            )
