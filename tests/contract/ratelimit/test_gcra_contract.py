"""GCRA as every rate-limit backend must implement it, with exact, frozen time."""

from __future__ import annotations

import asyncio

import pytest
from tests.contract.ratelimit.conftest import LimiterEnv

from tiered.ratelimit import Outcome


async def test_n_pass_then_the_next_is_limited_until_exactly_one_interval(
    limiter_env: LimiterEnv,
) -> None:
    limiter = limiter_env.limiter({"default": "5/minute"})
    remaining = []
    for _ in range(5):
        decision = await limiter.check("client")
        assert decision.outcome is Outcome.ALLOWED
        remaining.append(decision.states[0].remaining)
    assert remaining == [4, 3, 2, 1, 0]

    refused = await limiter.check("client")
    assert refused.outcome is Outcome.LIMITED
    assert not refused.allowed
    (state,) = refused.states
    assert state.remaining == 0
    assert state.retry_after == pytest.approx(12.0, abs=1e-5), "one interval: 60 s / 5"
    assert state.reset_after == pytest.approx(60.0, abs=1e-5)
    assert refused.violated == ("default",)
    assert refused.retry_after_header == 12

    limiter_env.clock.advance(11.99)
    assert (await limiter.check("client")).outcome is Outcome.LIMITED, "never earlier"
    limiter_env.clock.advance(0.01)
    admitted = await limiter.check("client")
    assert admitted.outcome is Outcome.ALLOWED
    assert admitted.states[0].remaining == 0


async def test_a_refused_request_charges_nothing(limiter_env: LimiterEnv) -> None:
    limiter = limiter_env.limiter({"default": "2/minute"})
    for _ in range(2):
        assert (await limiter.check("c")).allowed
    for _ in range(20):
        assert (await limiter.check("c")).outcome is Outcome.LIMITED
    limiter_env.clock.advance(30)
    assert (await limiter.check("c")).allowed, "the refusals did not push the reset back"


async def test_after_a_full_window_the_whole_quota_is_back(limiter_env: LimiterEnv) -> None:
    limiter = limiter_env.limiter({"default": "5/minute"})
    for _ in range(5):
        await limiter.check("client")
    assert (await limiter.check("client")).outcome is Outcome.LIMITED
    limiter_env.clock.advance(60)
    decisions = [await limiter.check("client") for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]


async def test_remaining_and_reset_describe_the_allowance(limiter_env: LimiterEnv) -> None:
    limiter = limiter_env.limiter({"default": "10/minute"})
    first = (await limiter.check("c")).states[0]
    assert (first.remaining, first.retry_after) == (9, 0.0)
    assert first.reset_after == pytest.approx(6.0, abs=1e-5)
    await limiter.check("c")
    limiter_env.clock.advance(3)
    third = (await limiter.check("c")).states[0]
    assert third.remaining == 7, "half an interval has passed: no request regained yet"
    assert third.reset_after == pytest.approx(15.0, abs=1e-5)
    limiter_env.clock.advance(3)
    fourth = (await limiter.check("c")).states[0]
    assert fourth.remaining == 7, "one regained, one spent"


async def test_a_burst_at_a_window_edge_is_not_doubled(limiter_env: LimiterEnv) -> None:
    """A fixed window would admit 10 before and 10 after the edge; GCRA admits 10 in all."""
    limiter = limiter_env.limiter({"default": "10/minute"})
    limiter_env.clock.advance(59.9)
    assert all([(await limiter.check("c")).allowed for _ in range(10)])
    limiter_env.clock.advance(0.2)
    assert (await limiter.check("c")).outcome is Outcome.LIMITED
    limiter_env.clock.advance(5.8)
    assert (await limiter.check("c")).allowed, "one interval (6 s) after the burst"
    assert (await limiter.check("c")).outcome is Outcome.LIMITED


async def test_requests_at_the_emission_rate_are_never_limited(limiter_env: LimiterEnv) -> None:
    limiter = limiter_env.limiter({"default": "3/second"})
    for _ in range(30):
        assert (await limiter.check("c")).allowed
        limiter_env.clock.advance(1 / 3)


async def test_an_interval_that_is_not_whole_microseconds(limiter_env: LimiterEnv) -> None:
    limiter = limiter_env.limiter({"default": "7/minute"})
    assert all([(await limiter.check("c")).allowed for _ in range(7)])
    refused = await limiter.check("c")
    assert refused.outcome is Outcome.LIMITED
    assert refused.retry_after == pytest.approx(60 / 7, abs=1e-5)
    assert refused.retry_after_header == 9, "rounded up, never before the real time"
    limiter_env.clock.advance(60 / 7)
    assert (await limiter.check("c")).allowed


async def test_several_quotas_of_one_policy(limiter_env: LimiterEnv) -> None:
    limiter = limiter_env.limiter({"api": "2/second;5/minute"})
    assert [(await limiter.check("c", "api")).allowed for _ in range(3)] == [True, True, False]
    refused = await limiter.check("c", "api")
    assert refused.violated == ("api-1s",)
    assert [state.quota.name for state in refused.states] == ["api-1s", "api-60s"]
    assert [state.remaining for state in refused.states] == [0, 3]
    limiter_env.clock.advance(1)
    assert [(await limiter.check("c", "api")).allowed for _ in range(3)] == [True, True, False]
    limiter_env.clock.advance(1)
    assert (await limiter.check("c", "api")).allowed
    limiter_env.clock.advance(1)
    refused = await limiter.check("c", "api")
    assert refused.violated == ("api-60s",), "the minute's five are spent"
    assert refused.states[0].remaining == 2, "the refusal did not charge the per-second quota"
    assert refused.retry_after == pytest.approx(12 - 3, abs=1e-5)


async def test_several_policies_in_one_check_are_charged_together(
    limiter_env: LimiterEnv,
) -> None:
    limiter = limiter_env.limiter({"default": "5/minute", "auth": "2/minute"})
    assert (await limiter.check("c", "default", "auth")).allowed
    assert (await limiter.check("c", "default", "auth")).allowed
    refused = await limiter.check("c", "default", "auth")
    assert refused.violated == ("auth",)
    assert refused.tightest is not None
    assert refused.tightest.quota.name == "auth"
    alone = await limiter.check("c")
    assert alone.states[0].remaining == 2, "5 - 2 admitted - this one: the refusal cost nothing"
    assert (await limiter.check("other", "auth")).allowed, "quotas are per client"


ADVERSARIAL_KEYS = [
    "ünïcödé-ключ-鍵",
    "\x00",
    "a\x00b",
    "a",
    "\ud800lone-surrogate",
    "{hash}tag}",
    "}{",
    "x" * 10_000 + "1",
    "x" * 10_000 + "2",
    "\r\n*1\r\n$4\r\nPING\r\n",
    " ",
]


async def test_adversarial_keys_are_separate_and_stable(limiter_env: LimiterEnv) -> None:
    limiter = limiter_env.limiter({"default": "2/minute"})
    for key in ADVERSARIAL_KEYS:
        assert (await limiter.check(key)).allowed, repr(key[:20])
    for key in ADVERSARIAL_KEYS:
        second = await limiter.check(key)
        assert second.allowed
        assert second.states[0].remaining == 0, f"{key[:20]!r} shares no bucket with another"
    for key in ADVERSARIAL_KEYS:
        assert (await limiter.check(key)).outcome is Outcome.LIMITED, repr(key[:20])


async def test_200_concurrent_checks_admit_exactly_the_limit(limiter_env: LimiterEnv) -> None:
    limiter = limiter_env.limiter({"default": "50/minute"})
    decisions = await asyncio.gather(*(limiter.check("hot") for _ in range(200)))
    outcomes = [decision.outcome for decision in decisions]
    assert outcomes.count(Outcome.ALLOWED) == 50
    assert outcomes.count(Outcome.LIMITED) == 150
    assert sorted(d.states[0].remaining for d in decisions if d.allowed) == list(range(50))
