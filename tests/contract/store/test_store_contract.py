"""Store contract: memory and Redis read, write, expire and count the same way."""

from __future__ import annotations

import asyncio
import math
import os

import pytest
from tests.contract.store.conftest import StoreHarness

KEYS = [
    "plain",
    "",
    " ",
    "ключ",
    "键/值",
    "emoji 😀",
    "nul\x00inside",
    "nul\x00",
    "\x00",
    "lone surrogate \ud800",
    "pair \ud83d\ude00",
    "colons:in:the:key",
    "*?[glob]",
    "x" * 10_000,
]
VALUES = [
    b"",
    b"\x00",
    b"\x00\xff\x00binary\r\n",
    "ünïcödé".encode(),
    os.urandom(1024 * 1024),
]


async def test_a_missing_key_reads_as_none(harness: StoreHarness) -> None:
    assert await harness.store.get("absent") is None
    assert await harness.store.expires_in("absent") is None
    assert await harness.store.delete("absent") is False


@pytest.mark.parametrize("value", VALUES, ids=["empty", "nul", "binary", "utf8", "1MB"])
async def test_values_come_back_byte_for_byte(harness: StoreHarness, value: bytes) -> None:
    await harness.store.set("value", value)
    assert await harness.store.get("value") == value


async def test_every_key_is_its_own_key(harness: StoreHarness) -> None:
    for index, key in enumerate(KEYS):
        await harness.store.set(key, f"value {index}".encode())
    for index, key in enumerate(KEYS):
        assert await harness.store.get(key) == f"value {index}".encode(), repr(key[:20])
    assert await harness.store.get("nul") is None
    assert await harness.store.get("PLAIN") is None


async def test_set_replaces_the_value_and_the_expiry(harness: StoreHarness) -> None:
    await harness.store.set("key", b"first", ttl=5)
    await harness.store.set("key", b"second")
    assert await harness.store.get("key") == b"second"
    assert await harness.store.expires_in("key") == math.inf
    await harness.store.set("key", b"third", ttl=100)
    remaining = await harness.store.expires_in("key")
    assert remaining is not None
    assert 99 < remaining <= 100


async def test_delete_removes_and_reports(harness: StoreHarness) -> None:
    await harness.store.set("key", b"v")
    assert await harness.store.delete("key") is True
    assert await harness.store.get("key") is None
    assert await harness.store.delete("key") is False


async def test_a_key_expires_after_its_ttl(harness: StoreHarness) -> None:
    await harness.store.set("short", b"v", ttl=10)
    await harness.store.set("forever", b"v")
    remaining = await harness.store.expires_in("short")
    assert remaining is not None
    assert 9.9 < remaining <= 10
    await harness.advance(9.5, "short", "forever")
    assert await harness.store.get("short") == b"v"
    await harness.advance(0.6, "short", "forever")
    assert await harness.store.get("short") is None
    assert await harness.store.expires_in("short") is None
    assert await harness.store.delete("short") is False
    assert await harness.store.get("forever") == b"v"


async def test_sub_millisecond_ttls_still_expire_later_not_now(harness: StoreHarness) -> None:
    await harness.store.set("tiny", b"v", ttl=0.0001)  # rounded up to 1 ms, never to 0
    remaining = await harness.store.expires_in("tiny")
    if remaining is None:  # on a real server the millisecond may pass before we ask
        assert await harness.store.get("tiny") is None
    else:
        assert 0 <= remaining <= 0.001  # PTTL says 0 in its last millisecond


@pytest.mark.parametrize("ttl", [0, -1, math.nan, math.inf, -math.inf])
async def test_unusable_ttls_are_refused(harness: StoreHarness, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await harness.store.set("key", b"v", ttl=ttl)
    with pytest.raises(ValueError, match="ttl"):
        await harness.store.set_if_absent("key", b"v", ttl=ttl)
    with pytest.raises(ValueError, match="ttl"):
        await harness.store.increment("key", ttl=ttl)
    assert await harness.store.get("key") is None


async def test_set_if_absent_stores_only_once(harness: StoreHarness) -> None:
    assert await harness.store.set_if_absent("lease", b"first", ttl=30) is True
    assert await harness.store.set_if_absent("lease", b"second", ttl=30) is False
    assert await harness.store.get("lease") == b"first"
    remaining = await harness.store.expires_in("lease")
    assert remaining is not None
    assert 29 < remaining <= 30
    await harness.advance(30, "lease")
    assert await harness.store.set_if_absent("lease", b"third") is True
    assert await harness.store.get("lease") == b"third"
    assert await harness.store.expires_in("lease") == math.inf


async def test_concurrent_set_if_absent_has_one_winner(harness: StoreHarness) -> None:
    won = await asyncio.gather(
        *(harness.store.set_if_absent("race", str(i).encode(), ttl=60) for i in range(50))
    )
    assert won.count(True) == 1
    winner = won.index(True)
    assert await harness.store.get("race") == str(winner).encode()


async def test_increment_creates_counts_and_reads_as_digits(harness: StoreHarness) -> None:
    assert await harness.store.increment("hits") == 1
    assert await harness.store.increment("hits", by=41) == 42
    assert await harness.store.increment("hits", by=-50) == -8
    assert await harness.store.get("hits") == b"-8"
    assert await harness.store.increment("zero", by=0) == 0
    assert await harness.store.get("zero") == b"0"


async def test_increment_sets_the_ttl_only_when_it_creates(harness: StoreHarness) -> None:
    assert await harness.store.increment("window", ttl=60) == 1
    await harness.advance(30, "window")
    assert await harness.store.increment("window", ttl=60) == 2
    remaining = await harness.store.expires_in("window")
    assert remaining is not None
    assert 29 < remaining <= 30
    await harness.advance(30, "window")
    assert await harness.store.get("window") is None
    assert await harness.store.increment("window", ttl=60) == 1


async def test_increment_of_a_persistent_key_keeps_it_persistent(harness: StoreHarness) -> None:
    await harness.store.set("counter", b"7")
    assert await harness.store.increment("counter", ttl=5) == 8
    assert await harness.store.expires_in("counter") == math.inf
    assert await harness.store.increment("fresh") == 1
    assert await harness.store.expires_in("fresh") == math.inf


@pytest.mark.parametrize(
    "stored",
    [b"abc", b"", b"01", b" 1", b"1 ", b"+1", b"1.5", b"-0", b"9223372036854775808", b"\x001"],
)
async def test_increment_of_a_non_counter_is_a_value_error(
    harness: StoreHarness, stored: bytes
) -> None:
    await harness.store.set("text", stored)
    with pytest.raises(ValueError, match="integer"):
        await harness.store.increment("text", ttl=10)
    assert await harness.store.get("text") == stored
    assert await harness.store.expires_in("text") == math.inf


async def test_increment_beyond_64_bits_is_a_value_error(harness: StoreHarness) -> None:
    await harness.store.set("big", b"9223372036854775807")
    with pytest.raises(ValueError, match="64-bit"):
        await harness.store.increment("big")
    assert await harness.store.get("big") == b"9223372036854775807"
    await harness.store.set("small", b"-9223372036854775808")
    with pytest.raises(ValueError, match="64-bit"):
        await harness.store.increment("small", by=-1)
    with pytest.raises(ValueError, match="64-bit"):
        await harness.store.increment("other", by=2**63)
    assert await harness.store.get("other") is None


async def test_concurrent_increments_are_exact(harness: StoreHarness) -> None:
    results = await asyncio.gather(
        *(harness.store.increment("concurrent", ttl=60) for _ in range(100))
    )
    assert sorted(results) == list(range(1, 101))
    assert await harness.store.get("concurrent") == b"100"


async def test_namespaces_are_separate_views(harness: StoreHarness) -> None:
    limits = harness.store.namespace("limits")
    cache = harness.store.namespace("cache")
    await limits.set("k", b"limit")
    await cache.set("k", b"cache")
    await harness.store.set("k", b"root")
    assert await limits.get("k") == b"limit"
    assert await cache.get("k") == b"cache"
    assert await harness.store.get("k") == b"root"
    assert await harness.store.get("limits:k") == b"limit"
    nested = limits.namespace("ip")
    await nested.set("1.2.3.4", b"n")
    assert await harness.store.get("limits:ip:1.2.3.4") == b"n"
    assert await limits.get("ip:1.2.3.4") == b"n"
    assert await cache.increment("count") == 1
    assert await limits.get("count") is None
    assert await limits.delete("k") is True
    assert await cache.get("k") == b"cache"


@pytest.mark.parametrize("name", ["", "a:b", ":"])
async def test_namespace_names_that_could_collide_are_refused(
    harness: StoreHarness, name: str
) -> None:
    with pytest.raises(ValueError, match="namespace"):
        harness.store.namespace(name)
