"""``@cached``: keys from arguments, types from the annotation, invalidation by call."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from pydantic import BaseModel

from tiered.cache import Cache, MemoryCacheBackend, cached
from tiered.clock import FrozenClock


class Market(BaseModel):
    id: uuid.UUID
    name: str


@pytest.fixture
def cache() -> Cache:
    clock = FrozenClock()
    return Cache(MemoryCacheBackend(clock=clock), clock=clock)


async def test_results_come_back_as_the_annotated_type(cache: Cache) -> None:
    calls: list[uuid.UUID] = []

    @cached(cache, key="market:{market_id}", ttl=60)
    async def get_market(market_id: uuid.UUID) -> Market:
        calls.append(market_id)
        return Market(id=market_id, name=f"market {len(calls)}")

    market_id = uuid.uuid4()
    first = await get_market(market_id)
    second = await get_market(market_id=market_id)
    assert first == second
    assert isinstance(second, Market)
    assert calls == [market_id]
    assert get_market.key(market_id) == f"market:{market_id}"
    assert await cache.get(f"market:{market_id}", codec=Market) == first
    assert get_market.__name__ == "get_market"


async def test_invalidate_drops_one_call_only(cache: Cache) -> None:
    calls: list[int] = []

    @cached(cache, key=lambda number, scale=1: f"square:{number}:{scale}")
    async def square(number: int, scale: int = 1) -> int:
        calls.append(number)
        return number * number * scale

    assert [await square(2), await square(3), await square(2)] == [4, 9, 4]
    await square.invalidate(2)
    assert [await square(2), await square(3)] == [4, 9]
    assert calls == [2, 3, 2]


async def test_the_default_key_is_the_function_and_its_arguments(cache: Cache) -> None:
    @dataclass(frozen=True)
    class Page:
        number: int

    @cached(cache)
    async def listing(status: str, page: int = 1, *, owner: uuid.UUID | None = None) -> list[str]:
        return [status, str(page), str(owner)]

    assert await listing("open") == ["open", "1", "None"]
    key = listing.key("open")
    assert key.endswith('.listing:{"status":"open","page":1,"owner":null}')
    assert listing.key("open", 1) == key
    assert listing.key("open", page=2) != key

    @cached(cache)
    async def by_page(page: Page) -> int:
        return page.number

    assert await by_page(Page(3)) == 3

    @cached(cache)
    async def by_object(thing: object) -> int:
        return 1

    with pytest.raises(TypeError, match="key="):
        await by_object(object())


async def test_tag_templates_follow_the_arguments(cache: Cache) -> None:
    calls = 0

    @cached(cache, key="positions:{user_id}", tags=["user:{user_id}", "positions"])
    async def positions(user_id: int) -> list[int]:
        nonlocal calls
        calls += 1
        return [user_id, calls]

    assert await positions(1) == [1, 1]
    assert await positions(2) == [2, 2]
    await cache.invalidate_tags("user:1")
    assert await positions(1) == [1, 3]
    assert await positions(2) == [2, 2]
    await cache.invalidate_tags("positions")
    assert await positions(2) == [2, 4]
    await positions.invalidate(2)
    assert await positions(2) == [2, 5]


def test_only_async_functions_are_accepted(cache: Cache) -> None:
    def plain() -> int:
        return 1

    with pytest.raises(TypeError, match="async"):
        cached(cache)(plain)  # type: ignore[arg-type]
