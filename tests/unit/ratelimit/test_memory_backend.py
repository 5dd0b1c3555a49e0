"""The in-process store stays bounded under a flood and forgets what carries no information."""

from __future__ import annotations

from tiered.clock import FrozenClock
from tiered.ratelimit import MemoryRateLimitBackend, Outcome, RateLimiter


async def test_a_million_distinct_keys_stay_within_the_bound() -> None:
    backend = MemoryRateLimitBackend(max_keys=10_000, clock=FrozenClock())
    quotas = RateLimiter({"default": "10/minute"}, backend).quota_set(["default"])
    largest = 0
    for number in range(1_000_000):
        backend.check_now(f"ip:10.{number >> 16}.{(number >> 8) & 255}.{number & 255}", quotas)
        if number % 1000 == 0:
            largest = max(largest, len(backend))
    assert len(backend) == 10_000
    assert largest <= 10_000


async def test_the_least_recently_seen_client_is_forgotten_first() -> None:
    clock = FrozenClock()
    backend = MemoryRateLimitBackend(max_keys=3, clock=clock)
    limiter = RateLimiter({"default": "1/hour"}, backend, clock=clock)
    for key in ("a", "b", "c"):
        assert (await limiter.check(key)).allowed
    assert (await limiter.check("a")).outcome is Outcome.LIMITED, "a is now the most recent"
    assert (await limiter.check("d")).allowed, "evicts b, the least recently seen"
    assert (await limiter.check("a")).outcome is Outcome.LIMITED
    assert (await limiter.check("c")).outcome is Outcome.LIMITED
    assert (await limiter.check("b")).allowed, "b was forgotten: a fresh allowance"
    assert len(backend) == 3


async def test_entries_whose_allowance_is_full_again_are_swept() -> None:
    clock = FrozenClock()
    backend = MemoryRateLimitBackend(clock=clock)
    limiter = RateLimiter({"default": "10/minute"}, backend, clock=clock)
    for number in range(100):
        await limiter.check(f"client-{number}")
    assert len(backend) == 100
    clock.advance(6)  # one interval: every entry's allowance is full again
    await limiter.check("late")
    assert len(backend) == 1


async def test_the_sweep_keeps_entries_still_in_use() -> None:
    clock = FrozenClock()
    backend = MemoryRateLimitBackend(clock=clock)
    limiter = RateLimiter({"default": "10/minute"}, backend, clock=clock)
    for _ in range(5):
        await limiter.check("busy")
    clock.advance(6)
    await limiter.check("other")
    assert len(backend) == 2
    decision = await limiter.check("busy")
    assert decision.states[0].remaining == 5, "10 - 5 + 1 regained - this one"
