"""One script's calls pipelined on a Redis connection of their own: every reply to its caller.

Against real servers: the shared test Redis for concurrency, and a private
``redis-server`` of the test's own where a test pauses, restarts or empties it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tiered.ratelimit.pipelined_script import PipelinedScript
from tiered.testing import PrivateRedis

pytestmark = pytest.mark.redis

ECHO = "return ARGV[1]"
"""Each call's reply is its own argument: a reply handed to the wrong caller shows."""


@asynccontextmanager
async def _echo_on(url: str, *, reply_within: float) -> AsyncIterator[PipelinedScript]:
    client = Redis.from_url(url)
    script = PipelinedScript(client, ECHO, timeout=reply_within)
    try:
        yield script
    finally:
        await script.aclose()
        await client.aclose()


@pytest_asyncio.fixture
async def echo(redis_url: str) -> AsyncIterator[PipelinedScript]:
    async with _echo_on(redis_url, reply_within=2.0) as script:
        yield script


@pytest_asyncio.fixture
async def private_echo(private_redis: PrivateRedis) -> AsyncIterator[PipelinedScript]:
    async with _echo_on(private_redis.url, reply_within=0.3) as script:
        yield script


@pytest_asyncio.fixture
async def admin(private_redis: PrivateRedis) -> AsyncIterator[Redis]:
    """A client of the private server's own, to act on it behind the script's back."""
    client = Redis.from_url(private_redis.url)
    yield client
    await client.aclose()


async def test_concurrent_calls_each_get_their_own_reply(echo: PipelinedScript) -> None:
    replies = await asyncio.gather(*(echo([], [f"call-{index}"]) for index in range(500)))
    assert replies == [f"call-{index}".encode() for index in range(500)]


async def test_a_caller_that_gives_up_leaves_the_others_their_replies(
    echo: PipelinedScript,
) -> None:
    await echo([], ["open the connection"])
    impatient = asyncio.ensure_future(echo([], ["impatient"]))
    others = [asyncio.ensure_future(echo([], [f"other-{index}"])) for index in range(20)]
    await asyncio.sleep(0)  # every call has written its command and waits for its reply
    impatient.cancel()
    assert await asyncio.gather(*others) == [f"other-{index}".encode() for index in range(20)]
    assert await echo([], ["after"]) == b"after"


async def test_a_server_that_lost_the_script_gets_it_again(
    private_echo: PipelinedScript, admin: Redis
) -> None:
    assert await private_echo([], ["first"]) == b"first"
    await admin.script_flush()
    assert await private_echo([], ["second"]) == b"second"
    assert await admin.script_exists(private_echo.sha) == [True]


async def test_a_paused_server_times_the_call_out_then_the_next_call_reconnects(
    private_echo: PipelinedScript, admin: Redis
) -> None:
    assert await private_echo([], ["before"]) == b"before"
    await admin.client_pause(1000, all=True)
    waiting = [asyncio.ensure_future(private_echo([], [f"w{index}"])) for index in range(5)]
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(result, RedisTimeoutError) for result in results), results
    await admin.client_unpause()
    assert await private_echo([], ["after"]) == b"after"


async def test_a_stopped_server_fails_calls_and_a_restarted_one_serves_them(
    private_echo: PipelinedScript, private_redis: PrivateRedis
) -> None:
    assert await private_echo([], ["before"]) == b"before"
    private_redis.stop()
    with pytest.raises(RedisConnectionError):
        await private_echo([], ["down"])
    with pytest.raises(RedisConnectionError):
        await private_echo([], ["still down"])
    private_redis.start()
    assert await private_echo([], ["back"]) == b"back"
