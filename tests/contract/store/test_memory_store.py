"""What only the memory store must show: it stays bounded, and forgets on time."""

from __future__ import annotations

import pytest

from tiered.clock import FrozenClock
from tiered.store import MemoryStore


async def test_a_million_distinct_keys_stay_within_the_bound() -> None:
    store = MemoryStore(max_keys=1_000, clock=FrozenClock())
    largest = 0
    for number in range(1_000_000):
        await store.increment(f"client:{number}", ttl=60)
        largest = max(largest, len(store))
    assert largest == 1_000
    assert len(store) == 1_000
    assert await store.get("client:999999") == b"1"
    assert await store.get("client:0") is None


async def test_the_least_recently_used_key_goes_first() -> None:
    store = MemoryStore(max_keys=3, clock=FrozenClock())
    for key in ("a", "b", "c"):
        await store.set(key, key.encode())
    assert await store.get("a") == b"a"
    await store.set("d", b"d")
    assert await store.get("b") is None
    assert [await store.get(key) for key in ("a", "c", "d")] == [b"a", b"c", b"d"]


async def test_expired_keys_are_swept_on_the_next_write() -> None:
    clock = FrozenClock()
    store = MemoryStore(max_keys=100, clock=clock)
    for number in range(50):
        await store.set(f"short:{number}", b"v", ttl=1)
    await store.set("long", b"v", ttl=100)
    assert len(store) == 51
    clock.advance(1)
    await store.set("trigger", b"v")
    assert len(store) == 2


async def test_expired_keys_make_room_before_live_ones_are_evicted() -> None:
    clock = FrozenClock()
    store = MemoryStore(max_keys=2, clock=clock)
    await store.set("live", b"v")
    await store.set("short", b"v", ttl=1)
    clock.advance(2)
    await store.get("short")
    await store.set("new", b"v")
    assert await store.get("live") == b"v"
    assert await store.get("new") == b"v"


async def test_namespaces_share_one_bound() -> None:
    store = MemoryStore(max_keys=10, clock=FrozenClock())
    first, second = store.namespace("a"), store.namespace("b")
    for number in range(10):
        await first.set(str(number), b"v")
        await second.set(str(number), b"v")
    assert len(store) == 10
    assert len(first) == 10


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        MemoryStore(max_keys=0)
