"""A store that cannot be asked: fail open (logged once per interval, counted) or closed."""

from __future__ import annotations

import pytest
import structlog
from prometheus_client import CollectorRegistry, generate_latest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tiered.clock import FrozenClock
from tiered.errors import ConfigurationError
from tiered.ratelimit import (
    Decision,
    MemoryRateLimitBackend,
    Outcome,
    QuotaSet,
    RateLimiter,
    RateLimitMetrics,
)


class FlakyBackend:
    """Fails while ``down``; otherwise answers like the memory backend."""

    def __init__(self, clock: FrozenClock) -> None:
        self.down = True
        self.calls = 0
        self.error: Exception = RedisConnectionError("Connection refused")
        self.inner = MemoryRateLimitBackend(clock=clock)

    async def check(self, key: str, quotas: QuotaSet) -> Decision:
        self.calls += 1
        if self.down:
            raise self.error
        return await self.inner.check(key, quotas)


def _metric(registry: CollectorRegistry, outcome: str) -> float:
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith(f'rate_limit_decisions_total{{outcome="{outcome}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample for {outcome}")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


async def test_fail_open_lets_requests_through_logs_once_and_counts(clock: FrozenClock) -> None:
    registry = CollectorRegistry()
    backend = FlakyBackend(clock)
    limiter = RateLimiter(
        {"default": "1/minute"},
        backend,
        metrics=RateLimitMetrics(registry),
        clock=clock,
        cooldown=0,
        log_every=60,
    )
    with structlog.testing.capture_logs() as captured:
        decisions = [await limiter.check("c") for _ in range(5)]
        clock.advance(59)
        await limiter.check("c")
        clock.advance(1)
        await limiter.check("c")
    assert all(decision.outcome is Outcome.FAILED_OPEN for decision in decisions)
    assert all(decision.allowed and decision.states == () for decision in decisions)
    warnings = [entry for entry in captured if entry["event"] == "rate_limiter_unavailable"]
    assert [entry["failures"] for entry in warnings] == [1, 6], "one line a minute, with a count"
    assert warnings[0]["error_type"] == "ConnectionError"
    assert warnings[0]["fail_open"] is True
    assert backend.calls == 7
    assert _metric(registry, "failed_open") == 7
    assert _metric(registry, "allowed") == 0


async def test_fail_closed_refuses(clock: FrozenClock) -> None:
    registry = CollectorRegistry()
    limiter = RateLimiter(
        {"default": "1/minute"},
        FlakyBackend(clock),
        fail_open=False,
        metrics=RateLimitMetrics(registry),
        clock=clock,
    )
    decision = await limiter.check("c")
    assert decision.outcome is Outcome.FAILED_CLOSED
    assert not decision.allowed
    assert _metric(registry, "failed_closed") == 1


async def test_the_store_is_left_alone_during_the_cooldown_then_recovers(
    clock: FrozenClock,
) -> None:
    backend = FlakyBackend(clock)
    backend.error = RedisTimeoutError("Timeout reading from socket")
    limiter = RateLimiter({"default": "2/minute"}, backend, clock=clock, cooldown=1.0)
    assert (await limiter.check("c")).outcome is Outcome.FAILED_OPEN
    assert (await limiter.check("c")).outcome is Outcome.FAILED_OPEN
    assert backend.calls == 1, "a hanging store delays one request, not every one"
    backend.down = False
    clock.advance(0.5)
    assert (await limiter.check("c")).outcome is Outcome.FAILED_OPEN
    assert backend.calls == 1
    clock.advance(0.5)
    with structlog.testing.capture_logs() as captured:
        assert (await limiter.check("c")).outcome is Outcome.ALLOWED
    assert backend.calls == 2
    assert [entry["event"] for entry in captured] == ["rate_limiter_recovered"]
    assert captured[0]["failures_not_logged"] == 0


async def test_os_errors_are_faults_too(clock: FrozenClock) -> None:
    backend = FlakyBackend(clock)
    backend.error = ConnectionRefusedError(111, "refused")
    limiter = RateLimiter({"default": "2/minute"}, backend, clock=clock, fail_open=False)
    assert (await limiter.check("c")).outcome is Outcome.FAILED_CLOSED


async def test_a_bug_in_a_backend_is_not_hidden(clock: FrozenClock) -> None:
    backend = FlakyBackend(clock)
    backend.error = ZeroDivisionError("bug")
    limiter = RateLimiter({"default": "2/minute"}, backend, clock=clock)
    with pytest.raises(ZeroDivisionError):
        await limiter.check("c")


async def test_without_a_backend_yet_the_fault_mode_applies(clock: FrozenClock) -> None:
    limiter = RateLimiter({"default": "2/minute"}, None, clock=clock)
    assert (await limiter.check("c")).outcome is Outcome.FAILED_OPEN
    limiter.backend = MemoryRateLimitBackend(clock=clock)
    clock.advance(1)
    assert (await limiter.check("c")).outcome is Outcome.ALLOWED


def test_policies_are_validated_when_the_limiter_is_built() -> None:
    with pytest.raises(ConfigurationError, match=r"policy 'auth'.*COUNT/PERIOD"):
        RateLimiter({"default": "10/minute", "auth": "often"})
    with pytest.raises(ConfigurationError, match="two rate-limit quotas are named 'a-1s'"):
        RateLimiter({"a": "1/second;5/minute", "a-1s": "3/hour"})
    limiter = RateLimiter({"default": "10/minute"})
    with pytest.raises(ConfigurationError, match="unknown rate-limit policy 'auth'"):
        limiter.quota_set(["default", "auth"])


def test_quota_sets_are_built_once_per_combination() -> None:
    limiter = RateLimiter({"default": "10/minute", "auth": "2/minute"})
    first = limiter.quota_set(["default", "auth", "default"])
    assert first is limiter.quota_set(["default", "auth"])
    assert [quota.name for quota in first.quotas] == ["default", "auth"]
    assert first.policy_header == b'"default";q=10;w=60, "auth";q=2;w=60'
