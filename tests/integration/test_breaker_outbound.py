"""A breaker in front of a failing local server: it opens, answers 503 without calling, recovers.

The server is real (127.0.0.1, allowed by the test's policy) and counts its
requests, so "without calling the server" is a count, not a guess. Time is a
``FrozenClock``; retries sleep through an injected function.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry
from tests.unit.resilience.local_http import LocalServer, Received, Reply

from tiered.app import create_app
from tiered.clock import FrozenClock
from tiered.errors import CircuitBreakerOpenError
from tiered.resilience import (
    BreakerMetrics,
    BreakerPolicy,
    CircuitBreaker,
    MemoryBreakerBackend,
    OutboundClient,
    OutboundPolicy,
    RetryPolicy,
    UpstreamUnavailableError,
)
from tiered.settings import AppSettings
from tiered.testing import app_client

POLICY = BreakerPolicy(minimum_calls=4, failure_rate=0.5, recovery_time=30, probe_lease=10)


class Upstream:
    def __init__(self) -> None:
        self.healthy = False

    def __call__(self, request: Received) -> Reply:
        return Reply(200, b"quote: 42") if self.healthy else Reply(503, b"down")


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest_asyncio.fixture
async def server(upstream: Upstream) -> AsyncIterator[LocalServer]:
    async with LocalServer(upstream) as running:
        yield running


def outbound(
    server: LocalServer, clock: FrozenClock, sleeps: Sleeps, attempts: int, metrics: BreakerMetrics
) -> OutboundClient:
    breaker = CircuitBreaker(
        "quotes",
        MemoryBreakerBackend(clock=clock),
        policy=POLICY,
        clock=clock,
        metrics=metrics,
    )
    return OutboundClient(
        "quotes",
        base_url=server.url,
        policy=OutboundPolicy(allowed_networks=("127.0.0.0/8",)),
        retry=RetryPolicy(max_attempts=attempts, sleep=sleeps, clock=clock),
        breaker=breaker,
    )


async def test_the_breaker_opens_then_refuses_without_calling_the_server(
    server: LocalServer, clock: FrozenClock, sleeps: Sleeps
) -> None:
    async with outbound(server, clock, sleeps, 1, BreakerMetrics()) as client:
        for _ in range(4):
            with pytest.raises(UpstreamUnavailableError):
                await client.get("/quote")
        assert server.hits == 4
        for _ in range(10):
            with pytest.raises(CircuitBreakerOpenError) as refused:
                await client.get("/quote")
        assert server.hits == 4
        assert refused.value.retry_after == 30


async def test_retry_outside_breaker_inside_stops_retrying_once_open(
    server: LocalServer, clock: FrozenClock, sleeps: Sleeps
) -> None:
    async with outbound(server, clock, sleeps, 3, BreakerMetrics()) as client:
        with pytest.raises(UpstreamUnavailableError):
            await client.get("/quote")
        assert (server.hits, len(sleeps.waits)) == (3, 2)
        with pytest.raises(CircuitBreakerOpenError):
            await client.get("/quote")
        assert (server.hits, len(sleeps.waits)) == (4, 3)


async def test_after_the_recovery_time_one_probe_closes_it_again(
    server: LocalServer, upstream: Upstream, clock: FrozenClock, sleeps: Sleeps
) -> None:
    registry = CollectorRegistry()
    async with outbound(server, clock, sleeps, 1, BreakerMetrics(registry)) as client:
        for _ in range(4):
            with pytest.raises(UpstreamUnavailableError):
                await client.get("/quote")
        clock.advance(29)
        with pytest.raises(CircuitBreakerOpenError):
            await client.get("/quote")
        clock.advance(1)
        upstream.healthy = True
        assert (await client.get("/quote")).text == "quote: 42"
        assert (await client.get("/quote")).text == "quote: 42"
    assert server.hits == 6
    labels = {"breaker": "quotes", "from_state": "half_open", "to_state": "closed"}
    assert registry.get_sample_value("circuit_breaker_transitions_total", labels) == 1
    assert registry.get_sample_value(
        "circuit_breaker_state", {"breaker": "quotes", "state": "closed"}
    )


async def test_a_failed_probe_opens_it_for_another_recovery_time(
    server: LocalServer, clock: FrozenClock, sleeps: Sleeps
) -> None:
    async with outbound(server, clock, sleeps, 1, BreakerMetrics()) as client:
        for _ in range(4):
            with pytest.raises(UpstreamUnavailableError):
                await client.get("/quote")
        clock.advance(30)
        with pytest.raises(UpstreamUnavailableError):
            await client.get("/quote")
        assert server.hits == 5
        with pytest.raises(CircuitBreakerOpenError) as refused:
            await client.get("/quote")
        assert refused.value.retry_after == 30
        assert server.hits == 5


def quote_app(client: OutboundClient) -> FastAPI:
    router = APIRouter()

    @router.get("/api/quote")
    async def quote() -> dict[str, str]:
        response = await client.get("/quote")
        return {"quote": response.text}

    settings = AppSettings(database_url="sqlite+aiosqlite:///:memory:", log_level="WARNING")
    return create_app(settings, routers=[router])


async def test_the_app_answers_a_fast_503_problem_with_retry_after(
    server: LocalServer, clock: FrozenClock, sleeps: Sleeps
) -> None:
    async with outbound(server, clock, sleeps, 1, BreakerMetrics()) as client:
        app = quote_app(client)
        async with app_client(app) as http:
            failures = [await http.get("/api/quote") for _ in range(4)]
            assert {response.status_code for response in failures} == {503}
            assert failures[0].json()["code"] == "UPSTREAM_UNAVAILABLE"
            clock.advance(5)
            refused = await http.get("/api/quote")
    assert server.hits == 4
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "25"
    problem = refused.json()
    assert (problem["code"], problem["type"]) == ("CIRCUIT_OPEN", "/problems/circuit-open")
    assert "down" not in refused.text
