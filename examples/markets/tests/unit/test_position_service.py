"""Positions seen through their market: visibility, scoping, and what a purchase refuses."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest

from markets.domain.errors import MarketNotFoundError, PositionNotFoundError
from markets.domain.markets import MarketStatus
from markets.domain.positions import Side
from markets.domain.users import Actor
from markets.repositories.unit_of_work import InMemoryMarketsUnitOfWork
from markets.services.markets import MarketDraft, MarketService
from markets.services.positions import PositionService
from tiered.clock import FrozenClock
from tiered.errors import InvalidInputError
from tiered.repository import Filter, SortKey


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def positions(uow: InMemoryMarketsUnitOfWork, clock: FrozenClock) -> PositionService:
    return PositionService(uow, clock)


@pytest.fixture
def markets(uow: InMemoryMarketsUnitOfWork) -> MarketService:
    return MarketService(uow)


async def test_a_markets_positions_are_its_own_only(
    markets: MarketService, positions: PositionService, alice: Actor, bob: Actor
) -> None:
    first = await markets.create(alice, MarketDraft("first", status=MarketStatus.ACTIVE))
    second = await markets.create(alice, MarketDraft("second", status=MarketStatus.ACTIVE))
    await positions.buy(bob, first.id, Side.YES, Decimal(3))
    await positions.buy(alice, first.id, Side.NO, Decimal(1))
    await positions.buy(bob, second.id, Side.YES, Decimal(7))

    page = await positions.of_market(None, first.id, sort=(SortKey("amount"),))
    assert [(p.amount, p.side, p.user_id) for p in page.items] == [
        (Decimal(1), Side.NO, alice.user_id),
        (Decimal(3), Side.YES, bob.user_id),
    ]
    assert {p.market_id for p in page.items} == {first.id}
    yes = await positions.of_market(bob, first.id, filters=(Filter.eq("side", Side.YES),))
    assert [p.amount for p in yes.items] == [Decimal(3)]


async def test_a_drafts_positions_are_hidden_like_the_draft(
    markets: MarketService, positions: PositionService, alice: Actor, bob: Actor, moderator: Actor
) -> None:
    draft = await markets.create(alice, MarketDraft("draft"))
    assert (await positions.of_market(alice, draft.id)).total == 0
    assert (await positions.of_market(moderator, draft.id)).total == 0
    for viewer in (bob, None):
        with pytest.raises(MarketNotFoundError):
            await positions.of_market(viewer, draft.id)
    with pytest.raises(MarketNotFoundError):
        await positions.of_market(alice, uuid4())


async def test_one_position_is_found_only_under_its_own_market(
    markets: MarketService, positions: PositionService, alice: Actor, bob: Actor
) -> None:
    first = await markets.create(alice, MarketDraft("first", status=MarketStatus.ACTIVE))
    second = await markets.create(alice, MarketDraft("second", status=MarketStatus.ACTIVE))
    bought = await positions.buy(bob, first.id, Side.NO, Decimal("2.5"))
    found = await positions.get(alice, first.id, bought.id)
    assert (found.id, found.amount, found.side, found.user_id) == (
        bought.id,
        Decimal("2.5"),
        Side.NO,
        bob.user_id,
    )
    with pytest.raises(PositionNotFoundError):
        await positions.get(alice, second.id, bought.id)
    with pytest.raises(PositionNotFoundError):
        await positions.get(alice, first.id, uuid4())


async def test_own_positions_are_the_callers_only_newest_first(
    markets: MarketService,
    positions: PositionService,
    clock: FrozenClock,
    alice: Actor,
    bob: Actor,
) -> None:
    live = await markets.create(alice, MarketDraft("live", status=MarketStatus.ACTIVE))
    for buyer, side, amount in ((alice, Side.YES, 1), (bob, Side.NO, 2), (bob, Side.YES, 4)):
        await positions.buy(buyer, live.id, side, Decimal(amount))
        clock.advance(1)
    mine = await positions.of_user(bob)
    assert [(p.side, p.amount) for p in mine.items] == [(Side.YES, Decimal(4)), (Side.NO, 2)]
    assert all(p.market.name == "live" for p in mine.items)
    no = await positions.of_user(bob, filters=(Filter.eq("side", Side.NO),))
    assert [p.amount for p in no.items] == [Decimal(2)]


async def test_a_refused_amount_points_at_the_amount(
    uow: InMemoryMarketsUnitOfWork, positions: PositionService, alice: Actor
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        await positions.buy(alice, uuid4(), Side.YES, Decimal("-0.5"))
    assert refused.value.code == "INVALID_AMOUNT"
    assert [error.pointer for error in refused.value.errors] == ["/amount"]
    assert uow.commits == 0
