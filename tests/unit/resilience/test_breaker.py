"""``CircuitBreaker`` around calls: what it counts, raises, logs and exports."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from structlog.testing import capture_logs

from tiered.clock import FrozenClock
from tiered.errors import CircuitBreakerOpenError
from tiered.redis_connection import connect_redis
from tiered.resilience import (
    BreakerMetrics,
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    RedisBreakerBackend,
    UnsafeDestinationError,
)

POLICY = BreakerPolicy(minimum_calls=4, failure_rate=0.5, recovery_time=30, probe_lease=10)


class Dependency:
    """A called service that fails while ``down`` and counts how often it was reached."""

    def __init__(self) -> None:
        self.down = True
        self.hits = 0

    async def __call__(self) -> str:
        self.hits += 1
        if self.down:
            raise httpx.ConnectError("refused")
        return "pong"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def breaker(clock: FrozenClock, registry: CollectorRegistry) -> CircuitBreaker:
    return CircuitBreaker("mail", policy=POLICY, clock=clock, metrics=BreakerMetrics(registry))


async def _fail(breaker: CircuitBreaker, dependency: Dependency, times: int) -> None:
    for _ in range(times):
        with pytest.raises(httpx.ConnectError):
            await breaker.call(dependency)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_an_open_breaker_refuses_without_calling(
    breaker: CircuitBreaker, clock: FrozenClock
) -> None:
    dependency = Dependency()
    await _fail(breaker, dependency, 4)
    clock.advance(12.5)
    with pytest.raises(CircuitBreakerOpenError) as refused:
        await breaker.call(dependency)
    assert dependency.hits == 4
    error = refused.value
    assert (error.status, error.code, error.retry_after) == (503, "CIRCUIT_OPEN", 18)
    assert error.headers() == {"Retry-After": "18"}
    assert "mail" in error.message


async def test_async_with_guards_a_block(breaker: CircuitBreaker) -> None:
    for _ in range(4):
        with pytest.raises(TimeoutError):
            async with breaker:
                raise TimeoutError
    ran = False
    with pytest.raises(CircuitBreakerOpenError):
        async with breaker:
            ran = True
    assert not ran


async def test_client_errors_do_not_count(breaker: CircuitBreaker) -> None:
    async def refused() -> None:
        raise UnsafeDestinationError("no")

    for _ in range(8):
        with pytest.raises(UnsafeDestinationError):
            await breaker.call(refused)
    snapshot = await breaker.state()
    assert (snapshot.state, snapshot.calls, snapshot.failures) == (BreakerState.CLOSED, 8, 0)


async def test_a_custom_predicate_decides_what_is_a_failure(clock: FrozenClock) -> None:
    breaker = CircuitBreaker(
        "smtp", policy=POLICY, clock=clock, counts_as_failure=lambda e: isinstance(e, OSError)
    )

    async def rejected_recipient() -> None:
        raise ValueError("550 no such user")

    for _ in range(6):
        with pytest.raises(ValueError, match="550"):
            await breaker.call(rejected_recipient)
    assert (await breaker.state()).failures == 0


async def test_recovery_lets_one_probe_through_then_closes(
    breaker: CircuitBreaker, clock: FrozenClock
) -> None:
    dependency = Dependency()
    await _fail(breaker, dependency, 4)
    clock.advance(30)
    dependency.down = False
    assert await breaker.call(dependency) == "pong"
    assert (await breaker.state()).state is BreakerState.CLOSED
    assert await breaker.call(dependency) == "pong"
    assert dependency.hits == 6


async def test_a_second_call_while_the_probe_runs_is_refused(
    breaker: CircuitBreaker, clock: FrozenClock
) -> None:
    dependency = Dependency()
    await _fail(breaker, dependency, 4)
    clock.advance(30)
    probing, finish = asyncio.Event(), asyncio.Event()

    async def slow_probe() -> str:
        probing.set()
        await finish.wait()
        return "back"

    probe = asyncio.ensure_future(breaker.call(slow_probe))
    await probing.wait()
    with pytest.raises(CircuitBreakerOpenError) as refused:
        await breaker.call(dependency)
    assert refused.value.retry_after == 10
    finish.set()
    assert await probe == "back"
    assert dependency.hits == 4


async def test_a_cancelled_probe_gives_its_lease_back(
    breaker: CircuitBreaker, clock: FrozenClock
) -> None:
    dependency = Dependency()
    await _fail(breaker, dependency, 4)
    clock.advance(30)
    probing = asyncio.Event()

    async def hanging_probe() -> None:
        probing.set()
        await asyncio.Event().wait()

    probe = asyncio.ensure_future(breaker.call(hanging_probe))
    await probing.wait()
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    dependency.down = False
    assert await breaker.call(dependency) == "pong"
    assert (await breaker.state()).state is BreakerState.CLOSED


async def test_transitions_are_logged_and_exported(
    breaker: CircuitBreaker, clock: FrozenClock, registry: CollectorRegistry
) -> None:
    dependency = Dependency()
    with capture_logs() as logs:
        await _fail(breaker, dependency, 4)
        for _ in range(2):
            with pytest.raises(CircuitBreakerOpenError):
                await breaker.call(dependency)
        assert sample(registry, "circuit_breaker_state", breaker="mail", state="open") == 1
        clock.advance(30)
        dependency.down = False
        await breaker.call(dependency)
    moves = [
        (line["from_state"], line["to_state"], line["log_level"])
        for line in logs
        if line["event"] == "circuit_breaker_transition"
    ]
    assert moves == [
        ("closed", "open", "warning"),
        ("open", "half_open", "info"),
        ("half_open", "closed", "info"),
    ]
    for source, target in [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]:
        labels = {"breaker": "mail", "from_state": source, "to_state": target}
        assert sample(registry, "circuit_breaker_transitions_total", **labels) == 1
    assert sample(registry, "circuit_breaker_rejected_calls_total", breaker="mail") == 2
    assert sample(registry, "circuit_breaker_state", breaker="mail", state="closed") == 1
    assert sample(registry, "circuit_breaker_state", breaker="mail", state="open") == 0
    text = generate_latest(registry).decode()
    assert 'circuit_breaker_state{breaker="mail",state="half_open"} 0.0' in text


async def test_reset_closes_the_circuit(breaker: CircuitBreaker) -> None:
    dependency = Dependency()
    await _fail(breaker, dependency, 4)
    await breaker.reset()
    dependency.down = False
    assert await breaker.call(dependency) == "pong"


async def test_an_unreachable_store_lets_calls_through_logged_and_counted(
    clock: FrozenClock, registry: CollectorRegistry
) -> None:
    redis = connect_redis("redis://127.0.0.1:1/0", timeout=0.5)
    breaker = CircuitBreaker(
        "mail",
        RedisBreakerBackend(redis),
        policy=POLICY,
        clock=clock,
        metrics=BreakerMetrics(registry),
        store_cooldown=1.0,
    )
    dependency = Dependency()
    dependency.down = False
    try:
        with capture_logs() as logs:
            for _ in range(3):
                assert await breaker.call(dependency) == "pong"
            errors_before_the_cooldown_ends = sample(
                registry, "circuit_breaker_store_errors_total", breaker="mail"
            )
            clock.advance(1.0)
            assert await breaker.call(dependency) == "pong"
    finally:
        await redis.aclose()
    assert dependency.hits == 4
    assert errors_before_the_cooldown_ends == 1
    assert sample(registry, "circuit_breaker_store_errors_total", breaker="mail") == 2
    lines = [line for line in logs if line["event"] == "circuit_breaker_store_unavailable"]
    assert [(line["error_type"], line["failures"]) for line in lines] == [("CacheError", 1)]
