"""Cache contract: memory, Redis and two-level backends serve, share and forget alike."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from pydantic import BaseModel
from tests.contract.cache.conftest import CacheEnv
from tests.contract.cache.loaders import Loader, WaitSpy, within

from tiered.cache import Cache


class Market(BaseModel):
    id: int
    name: str


def sample(name: str, cache: Cache, metric: str) -> float:
    value = cache.metrics.registry.get_sample_value(metric, {"cache": cache.name})
    return value or 0.0


async def test_a_miss_loads_and_a_hit_does_not(env: CacheEnv) -> None:
    loader = Loader({"id": 1, "tags": ["a", "b"]})
    assert await env.cache.get_or_set("k", loader, ttl=60) == {"id": 1, "tags": ["a", "b"]}
    assert await env.cache.get_or_set("k", loader, ttl=60) == {"id": 1, "tags": ["a", "b"]}
    assert loader.calls == 1
    assert sample("hits", env.cache, "cache_hits_total") == 1
    assert sample("misses", env.cache, "cache_misses_total") == 1


async def test_a_miss_returns_what_a_hit_would(env: CacheEnv) -> None:
    loader = Loader({"pair": (1, 2)})
    first = await env.cache.get_or_set("k", loader, ttl=60)
    second = await env.cache.get_or_set("k", loader, ttl=60)
    assert first == second == {"pair": [1, 2]}


async def test_a_model_codec_gives_back_the_model(env: CacheEnv) -> None:
    loader = Loader(Market(id=7, name="Will it rain?"))
    first = await env.cache.get_or_set("market:7", loader, codec=Market, ttl=60)
    second = await env.cache.get_or_set("market:7", loader, codec=Market, ttl=60)
    assert first == second == Market(id=7, name="Will it rain?")
    assert isinstance(second, Market)
    assert await env.cache.get("market:7", codec=Market) == first
    assert loader.calls == 1


async def test_a_value_of_the_wrong_type_for_its_codec_is_refused(env: CacheEnv) -> None:
    with pytest.raises(Exception, match="Market"):
        await env.cache.get_or_set("k", Loader({"id": 1}), codec=Market, ttl=60)
    assert await env.cache.get("k") is None


async def test_an_orm_entity_is_refused(env: CacheEnv) -> None:
    @dataclass
    class Entity:
        id: int
        _sa_instance_state: object = None

    with pytest.raises(TypeError, match="ORM entity"):
        await env.cache.get_or_set("k", Loader(Entity(1)), ttl=60)
    with pytest.raises(TypeError, match="ORM entity"):
        await env.cache.set("k", Entity(1))
    assert await env.cache.get("k") is None


async def test_a_hundred_concurrent_misses_run_the_loader_once(env: CacheEnv) -> None:
    loader = Loader("value").hold()
    calls = [asyncio.ensure_future(env.cache.get_or_set("hot", loader)) for _ in range(100)]
    await within(5, loader.started.wait())
    loader.gate.set()
    assert await within(5, asyncio.gather(*calls)) == ["value"] * 100
    assert loader.calls == 1


async def test_concurrent_misses_in_two_caches_load_once(env: CacheEnv) -> None:
    first_loader = Loader("value").hold()
    second_loader = Loader("other")
    peer = await env.peer(lease_wait=30)
    spy = WaitSpy(peer.backend)
    first = asyncio.ensure_future(env.cache.get_or_set("hot", first_loader))
    await within(5, first_loader.started.wait())
    second = asyncio.ensure_future(peer.get_or_set("hot", second_loader))
    await within(5, spy.waiting.wait())
    first_loader.gate.set()
    assert await within(10, asyncio.gather(first, second)) == ["value", "value"]
    assert (first_loader.calls, second_loader.calls, spy.calls) == (1, 0, 1)


async def test_a_failed_load_reaches_every_caller_and_caches_nothing(env: CacheEnv) -> None:
    failing = Loader(error=RuntimeError("source down")).hold()
    calls = [asyncio.ensure_future(env.cache.get_or_set("k", failing)) for _ in range(10)]
    await within(5, failing.started.wait())
    failing.gate.set()
    results = await within(5, asyncio.gather(*calls, return_exceptions=True))
    assert all(isinstance(result, RuntimeError) for result in results)
    assert failing.calls == 1
    working = Loader("value")
    assert await env.cache.get_or_set("k", working) == "value"
    assert working.calls == 1


async def test_a_failed_load_wakes_the_other_cache_at_once(env: CacheEnv) -> None:
    failing = Loader(error=RuntimeError("source down")).hold()
    peer = await env.peer(lease_wait=30)
    spy = WaitSpy(peer.backend)
    first = asyncio.ensure_future(env.cache.get_or_set("k", failing))
    await within(5, failing.started.wait())
    fallback = Loader("from the peer")
    second = asyncio.ensure_future(peer.get_or_set("k", fallback))
    await within(5, spy.waiting.wait())
    failing.gate.set()
    with pytest.raises(RuntimeError):
        await within(5, first)
    assert await within(10, second) == "from the peer"
    assert fallback.calls == 1


async def test_a_lease_nobody_fills_delays_but_does_not_block(env: CacheEnv) -> None:
    abandoned = await env.cache.backend.acquire_lease("k:k", 60)
    assert abandoned is not None
    patient = await env.peer(lease_wait=0.05)
    loader = Loader("loaded anyway")
    assert await within(5, patient.get_or_set("k", loader)) == "loaded anyway"
    assert loader.calls == 1
    assert await patient.get("k") == "loaded anyway"


async def test_ttls_are_jittered_down_never_up(env: CacheEnv) -> None:
    jittered = await env.peer(ttl_jitter=0.5)
    for number in range(20):
        await jittered.set(f"k{number}", number, ttl=100)
    remaining = [await env.expires_in(f"k:k{number}") for number in range(20)]
    assert all(value is not None and 49.9 <= value <= 100 for value in remaining)
    assert len({round(value or 0) for value in remaining}) > 1
    await env.cache.set("exact", 1, ttl=100)
    exact = await env.expires_in("k:exact")
    assert exact is not None
    assert 99 <= exact <= 100


async def test_delete_is_seen_by_every_cache(env: CacheEnv) -> None:
    peer = await env.peer()
    assert await env.cache.get_or_set("k", Loader("old")) == "old"
    assert await peer.get_or_set("k", Loader("unused")) == "old"
    await peer.delete("k")
    await env.cache.sync()
    reload = Loader("new")
    assert await env.cache.get_or_set("k", reload) == "new"
    assert reload.calls == 1


async def test_set_is_seen_by_every_cache(env: CacheEnv) -> None:
    peer = await env.peer()
    assert await env.cache.get_or_set("k", Loader(1)) == 1
    assert await peer.get("k") == 1
    await peer.set("k", 2)
    await env.cache.sync()
    assert await env.cache.get("k") == 2
    assert await env.cache.get_or_set("k", Loader(3)) == 2


async def test_invalidating_a_tag_reloads_only_its_entries(env: CacheEnv) -> None:
    peer = await env.peer()
    await env.cache.get_or_set("list", Loader(["a"]), tags=["markets"])
    await env.cache.get_or_set("both", Loader("both"), tags=["markets", "users"])
    await env.cache.get_or_set("users", Loader("users"), tags=["users"])
    await env.cache.get_or_set("plain", Loader("plain"))
    assert await peer.get("list", tags=["markets"]) == ["a"]
    await peer.invalidate_tags("markets")
    await env.cache.sync()
    assert await env.cache.backend.tag_versions(["markets", "users"]) == [1, 0]
    assert await env.cache.get_or_set("list", Loader(["b"]), tags=["markets"]) == ["b"]
    assert await env.cache.get_or_set("both", Loader("new"), tags=["users", "markets"]) == "new"
    assert await env.cache.get_or_set("users", Loader("x"), tags=["users"]) == "users"
    assert await env.cache.get_or_set("plain", Loader("x")) == "plain"
    assert await peer.get("list", tags=["markets"]) == ["b"]


async def test_a_key_with_and_without_tags_are_two_entries(env: CacheEnv) -> None:
    await env.cache.set("k", "untagged")
    await env.cache.set("k", "tagged", tags=["t"])
    assert await env.cache.get("k") == "untagged"
    assert await env.cache.get("k", tags=["t"]) == "tagged"
    await env.cache.delete("k", tags=["t"])
    assert await env.cache.get("k", tags=["t"]) is None
    assert await env.cache.get("k") == "untagged"


async def test_the_after_commit_hook_invalidates_keys_and_tags(env: CacheEnv) -> None:
    await env.cache.set("market:1", "old")
    await env.cache.set("list", ["old"], tags=["markets"])
    hook = env.cache.invalidation(keys=["market:1"], tags=["markets"])
    assert await env.cache.get("market:1") == "old"
    await hook()
    assert await env.cache.get("market:1") is None
    assert await env.cache.get("list", tags=["markets"]) is None
