"""``CachedRepository``: read models by id through the cache, invalidated after commit."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import pytest

from tiered.cache import Cache, CachedRepository, MemoryCacheBackend
from tiered.clock import FrozenClock
from tiered.errors import NotFoundError
from tiered.repository import ReadModel
from tiered.unit_of_work import InMemoryUnitOfWork

M = TypeVar("M", bound=ReadModel)


class MarketView(ReadModel):
    id: uuid.UUID
    name: str


class MarketRows:
    """Stands in for a repository: rows by id, and how often ``get_one`` was asked."""

    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, str] = {}
        self.reads = 0

    async def get_one(self, entity_id: Any, *, into: type[M]) -> M:
        self.reads += 1
        if entity_id not in self.rows:
            raise NotFoundError(f"Market {entity_id} not found")
        return into.model_validate({"id": entity_id, "name": self.rows[entity_id]})


@pytest.fixture
def cache() -> Cache:
    clock = FrozenClock()
    return Cache(MemoryCacheBackend(clock=clock), clock=clock)


async def test_get_one_reads_the_repository_once(cache: Cache) -> None:
    rows = MarketRows()
    market_id = uuid.uuid4()
    rows.rows[market_id] = "Rain tomorrow?"
    markets = CachedRepository(rows, MarketView, cache, ttl=60)
    first = await markets.get_one(market_id)
    again = await CachedRepository(rows, MarketView, cache, ttl=60).get_one(market_id)
    assert first == again == MarketView(id=market_id, name="Rain tomorrow?")
    assert isinstance(again, MarketView)
    assert rows.reads == 1
    assert markets.key(market_id).endswith(f"MarketView:{market_id}")


async def test_a_missing_entity_is_a_404_and_is_not_cached(cache: Cache) -> None:
    rows = MarketRows()
    markets = CachedRepository(rows, MarketView, cache, name="market")
    missing = uuid.uuid4()
    for _ in range(2):
        with pytest.raises(NotFoundError):
            await markets.get_one(missing)
    assert rows.reads == 2
    rows.rows[missing] = "now it exists"
    assert (await markets.get_one(missing)).name == "now it exists"


async def test_invalidation_waits_for_the_commit(cache: Cache) -> None:
    rows = MarketRows()
    market_id = uuid.uuid4()
    rows.rows[market_id] = "old"
    markets = CachedRepository(rows, MarketView, cache, name="market")
    await markets.get_one(market_id)
    rows.rows[market_id] = "new"

    uow = InMemoryUnitOfWork()

    async def change_then_fail() -> None:
        async with uow:
            markets.invalidate_after_commit(uow, market_id)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await change_then_fail()
    assert (await markets.get_one(market_id)).name == "old"

    async with uow:
        markets.invalidate_after_commit(uow, market_id)
        assert (await markets.get_one(market_id)).name == "old"
    assert (await markets.get_one(market_id)).name == "new"

    rows.rows[market_id] = "newest"
    await markets.invalidate(market_id)
    assert (await markets.get_one(market_id)).name == "newest"
