"""One breaker shared by three OS processes on one Redis: one opens it, all see it, one probes.

The test process opens the breaker against a failing local server; two
driver processes (the script below, run with the same Redis prefix) then
call through the same breaker name. Every process runs on a ``FrozenClock``
set to the moment the test names in each command, and the Redis script takes
that time, so "after the recovery time" is a number, not a wait. The server
holds the probe's request until the test releases it, so the second process
provably asks while the probe is in flight: it must be refused, and the
server must see exactly one request.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from tests.unit.resilience.local_http import LocalServer, Received, Reply

from tiered.clock import FrozenClock
from tiered.errors import CircuitBreakerOpenError
from tiered.redis_connection import connect_redis
from tiered.resilience import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    OutboundClient,
    OutboundPolicy,
    RedisBreakerBackend,
    RetryPolicy,
    UpstreamUnavailableError,
)

pytestmark = pytest.mark.redis

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = BreakerPolicy(minimum_calls=4, failure_rate=0.5, recovery_time=30, probe_lease=60)

DRIVER = """
import asyncio, json, sys
from datetime import datetime

from tiered.clock import FrozenClock
from tiered.errors import CircuitBreakerOpenError
from tiered.redis_connection import connect_redis
from tiered.resilience import (
    BreakerPolicy, CircuitBreaker, OutboundClient, OutboundPolicy, RedisBreakerBackend,
    RetryPolicy, UpstreamUnavailableError,
)

redis_url, prefix, server_url, start = sys.argv[1:5]


def say(message):
    print("@@ " + json.dumps(message), flush=True)


async def main():
    clock = FrozenClock(datetime.fromisoformat(start))
    redis = connect_redis(redis_url, timeout=10)
    breaker = CircuitBreaker(
        "quotes",
        RedisBreakerBackend(redis, prefix=prefix, clock=clock),
        policy=BreakerPolicy(minimum_calls=4, failure_rate=0.5, recovery_time=30, probe_lease=60),
        clock=clock,
    )
    client = OutboundClient(
        "quotes",
        base_url=server_url,
        policy=OutboundPolicy(allowed_networks=("127.0.0.0/8",), read_timeout=60),
        retry=RetryPolicy(max_attempts=1),
        breaker=breaker,
    )
    say({"ready": True})
    while line := await asyncio.to_thread(sys.stdin.readline):
        at = json.loads(line)["at"]
        clock.advance(at - clock.monotonic())
        try:
            response = await client.get("/quote")
            say({"outcome": "ok", "body": response.text})
        except CircuitBreakerOpenError as error:
            say({"outcome": "open", "retry_after": error.retry_after})
        except UpstreamUnavailableError:
            say({"outcome": "unavailable"})
    await client.aclose()
    await redis.aclose()


asyncio.run(main())
"""


class Upstream:
    """Fails until ``healthy``; then holds each reply until ``release`` is set."""

    def __init__(self) -> None:
        self.healthy = False
        self.release = asyncio.Event()

    def __call__(self, request: Received) -> Reply:
        if not self.healthy:
            return Reply(503)
        return Reply(200, b"quote: 42", hold=self.release)


class Driver:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        while True:
            line = await self.process.stdout.readline()
            if not line:
                raise AssertionError("the driver process exited")
            if line.startswith(b"@@ "):
                message: dict[str, Any] = json.loads(line[3:])
                return message

    def send(self, at: float) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"at": at}).encode() + b"\n")

    async def call(self, at: float) -> dict[str, Any]:
        self.send(at)
        return await self.read()


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
def prefix() -> str:
    return f"tiered-test-breaker-{uuid.uuid4().hex}:"


@pytest_asyncio.fixture
async def redis(redis_url: str, prefix: str) -> AsyncIterator[Redis]:
    client = connect_redis(redis_url, timeout=10)
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest_asyncio.fixture
async def server(upstream: Upstream) -> AsyncIterator[LocalServer]:
    async with LocalServer(upstream) as running:
        yield running
        upstream.release.set()


@pytest_asyncio.fixture
async def drivers(
    tmp_path: Path, redis_url: str, prefix: str, server: LocalServer
) -> AsyncIterator[list[Driver]]:
    script = tmp_path / "breaker_driver.py"
    script.write_text(DRIVER)
    env = {**os.environ, "ENVIRONMENT": "test"}
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            redis_url,
            prefix,
            server.url,
            T0.isoformat(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        for _ in range(2)
    ]
    started = [Driver(process) for process in processes]
    try:
        async with asyncio.timeout(60):
            for driver in started:
                assert await driver.read() == {"ready": True}
        yield started
    finally:
        for process in processes:
            if process.stdin is not None:
                process.stdin.close()
        for process in processes:
            try:
                async with asyncio.timeout(30):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


async def test_one_probe_across_processes_then_closed_for_all(
    redis: Redis, prefix: str, server: LocalServer, upstream: Upstream, drivers: list[Driver]
) -> None:
    clock = FrozenClock(T0)
    breaker = CircuitBreaker(
        "quotes", RedisBreakerBackend(redis, prefix=prefix, clock=clock), policy=POLICY, clock=clock
    )
    client = OutboundClient(
        "quotes",
        base_url=server.url,
        policy=OutboundPolicy(allowed_networks=("127.0.0.0/8",)),
        retry=RetryPolicy(max_attempts=1),
        breaker=breaker,
    )
    first, second = drivers
    async with asyncio.timeout(60), client:
        for _ in range(4):
            with pytest.raises(UpstreamUnavailableError):
                await client.get("/quote")
        with pytest.raises(CircuitBreakerOpenError):
            await client.get("/quote")
        assert server.hits == 4

        assert await second.call(at=10) == {"outcome": "open", "retry_after": 20}
        assert server.hits == 4

        upstream.healthy = True
        first.send(at=31)
        second.send(at=31)
        replies = [asyncio.ensure_future(driver.read()) for driver in drivers]
        extra_request = asyncio.ensure_future(server.arrived(6))
        done, _ = await asyncio.wait([*replies, extra_request], return_when=asyncio.FIRST_COMPLETED)
        assert extra_request not in done, "two probes reached the server"
        [refused] = done
        assert refused.result()["outcome"] == "open"
        await server.arrived(5)
        upstream.release.set()
        [probe] = [reply for reply in replies if reply is not refused]
        assert await probe == {"outcome": "ok", "body": "quote: 42"}
        extra_request.cancel()
        assert server.hits == 5

        assert (await breaker.state()).state is BreakerState.CLOSED
        prober = drivers[replies.index(probe)]
        other = drivers[replies.index(refused)]
        assert await other.call(at=32) == {"outcome": "ok", "body": "quote: 42"}
        assert await prober.call(at=33) == {"outcome": "ok", "body": "quote: 42"}
        assert (await client.get("/quote")).text == "quote: 42"
    assert server.hits == 8
