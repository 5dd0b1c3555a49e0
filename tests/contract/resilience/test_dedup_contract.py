"""Deduplication contract: a key is fresh once per cooldown, on memory and on Redis alike."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from tests.contract.resilience.conftest import Dedup


async def test_the_first_check_of_a_key_is_fresh(dedup: Dedup) -> None:
    result = await dedup.deduplicator.check("notify:42", cooldown=60)
    assert (result.key, result.duplicate, result.fresh) == ("notify:42", False, True)
    assert result.first_seen_at == dedup.clock.now()
    assert result.retry_after == 60


async def test_the_same_key_within_its_cooldown_is_a_duplicate(dedup: Dedup) -> None:
    first = await dedup.deduplicator.check("notify:42", cooldown=60)
    await dedup.advance(20, "notify:42")
    again = await dedup.deduplicator.check("notify:42", cooldown=60)
    assert (again.duplicate, again.fresh) == (True, False)
    assert again.first_seen_at == first.first_seen_at
    if dedup.kind == "memory":
        assert again.retry_after == 40
    else:
        assert 0 < again.retry_after <= 40


async def test_after_its_cooldown_the_key_is_fresh_again(dedup: Dedup) -> None:
    await dedup.deduplicator.check("notify:42", cooldown=60)
    await dedup.advance(60, "notify:42")
    later = await dedup.deduplicator.check("notify:42", cooldown=60)
    assert later.fresh
    assert later.first_seen_at == dedup.clock.now()


async def test_a_cooldown_may_be_a_timedelta(dedup: Dedup) -> None:
    result = await dedup.deduplicator.check("k", cooldown=timedelta(minutes=2))
    assert result.retry_after == 120
    assert (await dedup.deduplicator.check("k", cooldown=timedelta(minutes=2))).duplicate


async def test_forget_makes_the_key_fresh_at_once(dedup: Dedup) -> None:
    await dedup.deduplicator.check("k", cooldown=60)
    assert await dedup.deduplicator.forget("k") is True
    assert (await dedup.deduplicator.check("k", cooldown=60)).fresh
    assert await dedup.deduplicator.forget("absent") is False


async def test_keys_are_independent(dedup: Dedup) -> None:
    await dedup.deduplicator.check("a", cooldown=60)
    assert (await dedup.deduplicator.check("b", cooldown=60)).fresh
    assert (await dedup.deduplicator.check("a", cooldown=60)).duplicate


async def test_concurrent_checks_of_one_key_have_one_fresh_answer(dedup: Dedup) -> None:
    results = await asyncio.gather(
        *(dedup.deduplicator.check("race", cooldown=60) for _ in range(30))
    )
    assert [result.fresh for result in results].count(True) == 1


@pytest.mark.parametrize("cooldown", [0, -1, float("inf"), float("nan")])
async def test_a_cooldown_must_be_a_positive_finite_duration(dedup: Dedup, cooldown: float) -> None:
    with pytest.raises(ValueError, match="cooldown"):
        await dedup.deduplicator.check("k", cooldown=cooldown)
