"""The markets use cases on real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC
from decimal import Decimal

import pytest

from markets.domain.markets import MarketStatus
from markets.domain.positions import Side
from markets.domain.users import Actor, User
from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.markets import MarketChanges, MarketDraft, MarketService
from markets.services.positions import PositionService
from tiered.errors import DuplicateResourceError, PreconditionFailedError, StaleVersionError

NewUow = Callable[[], MarketsUnitOfWork]


async def test_create_and_read_back(new_uow: NewUow, people: dict[str, Actor]) -> None:
    service = MarketService(new_uow())
    created = await service.create(people["alice"], MarketDraft("Rain?", "desc"))
    read = await MarketService(new_uow()).get(people["alice"], created.id)
    assert read == created
    assert read.creator.display_name == "Alice"
    assert read.created_at.tzinfo is not None
    assert read.created_at.utcoffset() == UTC.utcoffset(None)


async def test_duplicate_email_is_a_conflict(new_uow: NewUow, people: dict[str, Actor]) -> None:
    del people
    with pytest.raises(DuplicateResourceError) as raised:
        async with new_uow() as uow:
            await uow.users.create(User(__import__("uuid").uuid4(), "alice@example.com", "Again"))
    assert raised.value.status == 409


async def test_stale_if_match_is_412(new_uow: NewUow, people: dict[str, Actor]) -> None:
    alice = people["alice"]
    created = await MarketService(new_uow()).create(alice, MarketDraft("m"))
    await MarketService(new_uow()).update(
        alice, created.id, MarketChanges(name="a"), created.version
    )
    with pytest.raises(PreconditionFailedError):
        await MarketService(new_uow()).update(
            alice, created.id, MarketChanges(name="b"), created.version
        )


async def test_two_writers_from_one_version_one_wins(
    new_uow: NewUow, people: dict[str, Actor]
) -> None:
    created = await MarketService(new_uow()).create(people["alice"], MarketDraft("race"))

    async def lose_race() -> None:
        async with new_uow().read_only() as reader:
            mine = await reader.markets.get_one(created.id)
        async with new_uow() as second:
            theirs = await second.markets.get_one(created.id)
            theirs.name = "theirs"
        mine.name = "mine"
        async with new_uow() as first:
            await first.markets.update(mine)

    with pytest.raises(StaleVersionError):
        await lose_race()
    final = await MarketService(new_uow()).get(people["alice"], created.id)
    assert final.name == "theirs"
    assert final.version == created.version + 1


async def test_buy_inserts_position_and_raises_volume(
    new_uow: NewUow, people: dict[str, Actor]
) -> None:
    live = await MarketService(new_uow()).create(
        people["alice"], MarketDraft("live", status=MarketStatus.ACTIVE)
    )
    await PositionService(new_uow()).buy(people["bob"], live.id, Side.YES, Decimal("12.3456"))
    after = await MarketService(new_uow()).get(None, live.id)
    assert after.volume == Decimal("12.3456")
    assert after.version == live.version + 1
    held = await PositionService(new_uow()).of_user(people["bob"])
    assert [(p.amount, p.market.name) for p in held.items] == [(Decimal("12.3456"), "live")]


async def test_fifty_concurrent_buys_sum_exactly(new_uow: NewUow, people: dict[str, Actor]) -> None:
    live = await MarketService(new_uow()).create(
        people["alice"], MarketDraft("busy", status=MarketStatus.ACTIVE)
    )
    amounts = [Decimal(f"{index}.{index:02d}") for index in range(1, 51)]
    await asyncio.gather(
        *(
            PositionService(new_uow()).buy(people["bob"], live.id, Side.YES, amount)
            for amount in amounts
        )
    )
    after = await MarketService(new_uow()).get(None, live.id)
    assert after.volume == sum(amounts)
    held = await PositionService(new_uow()).of_user(people["bob"])
    assert held.total == 50


async def test_closed_market_takes_no_position(new_uow: NewUow, people: dict[str, Actor]) -> None:
    alice = people["alice"]
    live = await MarketService(new_uow()).create(
        alice, MarketDraft("closing", status=MarketStatus.ACTIVE)
    )
    await MarketService(new_uow()).update(
        alice, live.id, MarketChanges(status=MarketStatus.CLOSED), None
    )
    from markets.domain.errors import MarketNotActiveError

    with pytest.raises(MarketNotActiveError):
        await PositionService(new_uow()).buy(people["bob"], live.id, Side.NO, Decimal(1))
    held = await PositionService(new_uow()).of_user(people["bob"])
    assert held.total == 0
