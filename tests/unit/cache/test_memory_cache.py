"""The memory backend forgets on time, and a cancelled caller leaves the fill alone."""

from __future__ import annotations

import asyncio

import pytest
from tests.contract.cache.loaders import Loader, within

from tiered.cache import Cache, MemoryCacheBackend
from tiered.clock import FrozenClock


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def cache(clock: FrozenClock) -> Cache:
    return Cache(MemoryCacheBackend(clock=clock), clock=clock, ttl_jitter=0)


async def test_an_entry_expires_after_its_ttl(cache: Cache, clock: FrozenClock) -> None:
    loader = Loader("value")
    await cache.get_or_set("k", loader, ttl=30)
    clock.advance(29.9)
    await cache.get_or_set("k", loader, ttl=30)
    assert loader.calls == 1
    clock.advance(0.1)
    await cache.get_or_set("k", loader, ttl=30)
    assert loader.calls == 2


async def test_the_default_ttl_applies(clock: FrozenClock) -> None:
    cache = Cache(MemoryCacheBackend(clock=clock), clock=clock, ttl=10, ttl_jitter=0)
    await cache.set("k", 1)
    clock.advance(10)
    assert await cache.get("k") is None


async def test_a_jittered_ttl_is_never_longer(clock: FrozenClock) -> None:
    cache = Cache(MemoryCacheBackend(clock=clock), clock=clock, ttl_jitter=0.2)
    for number in range(50):
        await cache.set(f"k{number}", number, ttl=10)
    clock.advance(10)
    assert [await cache.get(f"k{number}") for number in range(50)] == [None] * 50


async def test_an_expired_lease_goes_to_the_next_caller(clock: FrozenClock) -> None:
    backend = MemoryCacheBackend(clock=clock)
    assert await backend.acquire_lease("k:k", 5) is not None
    assert await backend.acquire_lease("k:k", 5) is None
    clock.advance(5)
    assert await backend.acquire_lease("k:k", 5) is not None


async def test_a_stale_lease_holder_cannot_release_the_next_one(clock: FrozenClock) -> None:
    backend = MemoryCacheBackend(clock=clock)
    stale = await backend.acquire_lease("k:k", 5)
    assert stale is not None
    clock.advance(5)
    current = await backend.acquire_lease("k:k", 5)
    assert current is not None
    await backend.release_lease("k:k", stale)
    await backend.set("k:k", b"1", 60, lease_token=stale)
    assert await backend.acquire_lease("k:k", 5) is None
    await backend.release_lease("k:k", current)
    assert await backend.acquire_lease("k:k", 5) is not None


async def test_a_cancelled_caller_does_not_cancel_the_others(cache: Cache) -> None:
    loader = Loader("value").hold()
    impatient = asyncio.ensure_future(cache.get_or_set("k", loader))
    patient = asyncio.ensure_future(cache.get_or_set("k", loader))
    await within(5, loader.started.wait())
    impatient.cancel()
    loader.gate.set()
    assert await within(5, patient) == "value"
    assert impatient.cancelled()
    assert loader.calls == 1
    assert await cache.get("k") == "value"


async def test_a_fill_whose_callers_all_left_still_fills(cache: Cache) -> None:
    loader = Loader("value").hold()
    caller = asyncio.ensure_future(cache.get_or_set("k", loader))
    await within(5, loader.started.wait())
    caller.cancel()
    loader.gate.set()
    again = Loader("unused")
    assert await within(5, cache.get_or_set("k", again)) == "value"
    assert again.calls == 0


async def test_tags_survive_a_flood_of_entries(clock: FrozenClock) -> None:
    cache = Cache(MemoryCacheBackend(max_keys=50, clock=clock), clock=clock)
    await cache.set("old", "stale", tags=["markets"])
    await cache.invalidate_tags("markets")
    for number in range(500):
        await cache.get_or_set(f"k{number}", Loader(number), tags=["markets"])
    assert await cache.get("old", tags=["markets"]) is None


async def test_a_hit_is_read_at_once_and_counted(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    loader = Loader({"name": "Zoë"})
    await cache.get_or_set("k", loader, tags=["markets"])
    awaited: list[str] = []
    backend = cache.backend

    async def get(key: str) -> bytes | None:
        awaited.append("get")
        return None

    monkeypatch.setattr(backend, "get", get)
    assert await cache.get_or_set("k", loader, tags=["markets"]) == {"name": "Zoë"}
    assert await cache.get("k", tags=["markets"]) == {"name": "Zoë"}
    assert awaited == [], "no coroutine of the backend's for a hit"
    registry = cache.metrics.registry
    assert registry.get_sample_value("cache_hits_total", {"cache": "default"}) == 2
    assert registry.get_sample_value("cache_misses_total", {"cache": "default"}) == 1
    assert loader.calls == 1


async def test_a_bumped_tag_misses_on_the_fast_path_too(cache: Cache) -> None:
    first, second = Loader("old"), Loader("new")
    assert await cache.get_or_set("k", first, tags=["markets"]) == "old"
    await cache.invalidate_tags("markets")
    assert await cache.get_or_set("k", second, tags=["markets"]) == "new"
    assert (first.calls, second.calls) == (1, 1)
