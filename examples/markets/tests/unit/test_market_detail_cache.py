"""The market detail read through a memory cache: hits open no transaction, writes drop it."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from markets.domain.errors import MarketNotActiveError, MarketNotFoundError
from markets.domain.markets import MarketStatus, Outcome
from markets.domain.positions import Side
from markets.domain.users import Actor
from markets.repositories.unit_of_work import InMemoryMarketsUnitOfWork
from markets.services.markets import (
    MARKET_DETAILS_TAG,
    MarketChanges,
    MarketDetailCache,
    MarketDraft,
    MarketService,
)
from markets.services.positions import PositionService
from markets.services.read_models import MarketDetail
from tiered.cache import Cache, MemoryCacheBackend
from tiered.clock import FrozenClock
from tiered.errors import PreconditionFailedError


@pytest.fixture
def cache(clock: FrozenClock) -> Cache:
    return Cache(MemoryCacheBackend(clock=clock), clock=clock, ttl=60)


@pytest.fixture
def markets(uow: InMemoryMarketsUnitOfWork, cache: Cache) -> MarketService:
    return MarketService(uow, cache=cache)


@pytest.fixture
def positions(uow: InMemoryMarketsUnitOfWork, cache: Cache) -> PositionService:
    return PositionService(uow, cache=cache)


async def cached(cache: Cache, market_id: UUID) -> MarketDetail | None:
    """The entry as stored, without loading anything."""
    return await cache.get(
        MarketDetailCache.key(market_id), codec=MarketDetail, tags=(MARKET_DETAILS_TAG,)
    )


async def live_market(markets: MarketService, creator: Actor, name: str = "Rain?") -> UUID:
    detail = await markets.create(creator, MarketDraft(name, status=MarketStatus.ACTIVE))
    return detail.id


async def test_a_second_read_opens_no_transaction(
    markets: MarketService, uow: InMemoryMarketsUnitOfWork, cache: Cache, alice: Actor
) -> None:
    market_id = await live_market(markets, alice)
    first = await markets.get(None, market_id)
    transactions = uow.commits
    again = await markets.get(None, market_id)
    assert again == first
    assert uow.commits == transactions
    registry, labels = cache.metrics.registry, {"cache": cache.name}
    assert registry.get_sample_value("cache_hits_total", labels) == 1
    assert registry.get_sample_value("cache_misses_total", labels) == 1


async def test_an_edit_drops_the_entry_once_committed(
    markets: MarketService, cache: Cache, alice: Actor
) -> None:
    market_id = await live_market(markets, alice)
    await markets.get(None, market_id)
    assert await cached(cache, market_id) is not None
    edited = await markets.update(alice, market_id, MarketChanges(name="Snow?"), None)
    assert await cached(cache, market_id) is None
    assert (await markets.get(None, market_id)).name == "Snow?"
    assert (await markets.get(None, market_id)).version == edited.version


async def test_a_refused_edit_keeps_the_entry(
    markets: MarketService, cache: Cache, alice: Actor
) -> None:
    market_id = await live_market(markets, alice)
    read = await markets.get(None, market_id)
    with pytest.raises(PreconditionFailedError):
        await markets.update(alice, market_id, MarketChanges(name="x"), read.version + 1)
    assert await cached(cache, market_id) == read


async def test_an_edit_that_changes_nothing_keeps_the_entry(
    markets: MarketService, cache: Cache, alice: Actor
) -> None:
    market_id = await live_market(markets, alice, "Same")
    read = await markets.get(None, market_id)
    await markets.update(alice, market_id, MarketChanges(name="Same"), None)
    assert await cached(cache, market_id) == read


async def test_a_deleted_market_is_gone_from_the_cache(
    markets: MarketService, cache: Cache, alice: Actor, moderator: Actor
) -> None:
    market_id = await live_market(markets, alice)
    await markets.get(None, market_id)
    await markets.delete(moderator, market_id)
    assert await cached(cache, market_id) is None
    with pytest.raises(MarketNotFoundError):
        await markets.get(None, market_id)


async def test_a_resolution_shows_at_once(
    markets: MarketService, alice: Actor, moderator: Actor
) -> None:
    market_id = await live_market(markets, alice)
    await markets.get(None, market_id)
    await markets.resolve(moderator, market_id, Outcome.YES)
    read = await markets.get(None, market_id)
    assert (read.status, read.outcome) == (MarketStatus.RESOLVED, Outcome.YES)


async def test_a_purchase_shows_in_the_volume_at_once(
    markets: MarketService, positions: PositionService, alice: Actor, bob: Actor
) -> None:
    market_id = await live_market(markets, alice)
    assert (await markets.get(None, market_id)).volume == 0
    await positions.buy(bob, market_id, Side.YES, Decimal("12.5"))
    assert (await markets.get(None, market_id)).volume == Decimal("12.5")


async def test_a_refused_purchase_keeps_the_entry(
    markets: MarketService, positions: PositionService, cache: Cache, alice: Actor, bob: Actor
) -> None:
    market_id = await live_market(markets, alice)
    await markets.update(alice, market_id, MarketChanges(status=MarketStatus.CLOSED), None)
    read = await markets.get(None, market_id)
    with pytest.raises(MarketNotActiveError):
        await positions.buy(bob, market_id, Side.NO, Decimal(1))
    assert await cached(cache, market_id) == read


async def test_a_cached_draft_stays_private(
    markets: MarketService,
    *,
    uow: InMemoryMarketsUnitOfWork,
    cache: Cache,
    alice: Actor,
    bob: Actor,
    moderator: Actor,
) -> None:
    draft = await markets.create(alice, MarketDraft("secret plan"))
    assert (await markets.get(alice, draft.id)).status is MarketStatus.DRAFT
    assert await cached(cache, draft.id) is not None
    transactions = uow.commits
    for outsider in (bob, None):
        with pytest.raises(MarketNotFoundError):
            await markets.get(outsider, draft.id)
    assert (await markets.get(moderator, draft.id)).id == draft.id
    assert uow.commits == transactions  # every answer came from the cached entry


async def test_an_unknown_market_is_not_cached(markets: MarketService, cache: Cache) -> None:
    unknown = uuid4()
    with pytest.raises(MarketNotFoundError):
        await markets.get(None, unknown)
    assert await cached(cache, unknown) is None


async def test_every_detail_can_be_dropped_at_once(
    markets: MarketService, uow: InMemoryMarketsUnitOfWork, cache: Cache, alice: Actor, bob: Actor
) -> None:
    ids = [await live_market(markets, alice, "a"), await live_market(markets, bob, "b")]
    for market_id in ids:
        await markets.get(None, market_id)
    async with uow:
        MarketDetailCache(cache).invalidate_all_after_commit(uow)
        assert await cached(cache, ids[0]) is not None  # not before the commit
    for market_id in ids:
        assert await cached(cache, market_id) is None


async def test_without_a_cache_every_read_opens_a_transaction(
    uow: InMemoryMarketsUnitOfWork, alice: Actor
) -> None:
    markets = MarketService(uow)
    market_id = await live_market(markets, alice)
    await markets.get(None, market_id)
    transactions = uow.commits
    await markets.get(None, market_id)
    assert uow.commits == transactions + 1
