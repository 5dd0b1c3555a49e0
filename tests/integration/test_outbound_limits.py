"""Outbound HTTP against a real local server: size cap, retries and what becomes which error."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from tests.integration.conftest import free_port
from tests.unit.resilience.local_http import LocalServer, Received, Reply

from tiered.resilience import (
    OutboundClient,
    OutboundPolicy,
    RetryPolicy,
    UnsafeDestinationError,
    UpstreamResponseError,
    UpstreamUnavailableError,
)
from tiered.settings import AppSettings

LOOPBACK = ("127.0.0.0/8",)
CAP = 100_000


class Script:
    """Replies in order (the last one repeats), so a test says what the server does."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)

    def __call__(self, request: Received) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def script() -> Script:
    return Script(Reply(200, b"ok"))


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest_asyncio.fixture
async def server(script: Script) -> AsyncIterator[LocalServer]:
    async with LocalServer(script) as running:
        yield running


@pytest_asyncio.fixture
async def outbound(sleeps: Sleeps) -> AsyncIterator[OutboundClient]:
    client = OutboundClient(
        "partner",
        policy=OutboundPolicy(allowed_networks=LOOPBACK, max_response_bytes=CAP),
        retry=RetryPolicy(max_attempts=3, sleep=sleeps, rng=lambda: 0.5),
    )
    async with client:
        yield client


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_cap_is_abandoned(
    server: LocalServer, script: Script, outbound: OutboundClient, chunked: bool
) -> None:
    script.replies = [Reply(200, b"x" * (CAP + 1), chunked=chunked)]
    with pytest.raises(UpstreamResponseError) as abandoned:
        await outbound.get(f"{server.url}/big")
    assert (abandoned.value.status, abandoned.value.code) == (502, "UPSTREAM_RESPONSE_TOO_LARGE")
    assert server.hits == 1


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_at_the_cap_is_read_whole(
    server: LocalServer, script: Script, outbound: OutboundClient, chunked: bool
) -> None:
    script.replies = [Reply(200, b"y" * CAP, chunked=chunked)]
    response = await outbound.get(f"{server.url}/exact")
    assert response.content == b"y" * CAP


async def test_the_cap_applies_to_the_decoded_body(
    server: LocalServer, script: Script, outbound: OutboundClient
) -> None:
    bomb = gzip.compress(b"\0" * (CAP * 50))
    assert len(bomb) < CAP
    script.replies = [Reply(200, bomb, headers=[("Content-Encoding", "gzip")])]
    with pytest.raises(UpstreamResponseError, match="larger than"):
        await outbound.get(f"{server.url}/bomb")


async def test_a_compressed_body_is_returned_decoded(
    server: LocalServer, script: Script, outbound: OutboundClient
) -> None:
    script.replies = [
        Reply(200, gzip.compress(b'{"a": 1}'), headers=[("Content-Encoding", "gzip")])
    ]
    response = await outbound.get(f"{server.url}/json")
    assert response.json() == {"a": 1}
    assert "content-encoding" not in response.headers
    assert response.headers["content-length"] == "8"


async def test_an_undecodable_body_is_a_bad_gateway(
    server: LocalServer, script: Script, outbound: OutboundClient
) -> None:
    script.replies = [Reply(200, b"not gzip at all", headers=[("Content-Encoding", "gzip")])]
    with pytest.raises(UpstreamResponseError) as rejected:
        await outbound.get(f"{server.url}/garbled")
    assert (rejected.value.status, rejected.value.code) == (502, "UPSTREAM_RESPONSE_UNDECODABLE")
    assert server.hits == 1


@pytest.mark.parametrize(
    "url", ["http://[::1/", "http://exa mple.com/", "http://[not-an-address/", "http://:80/"]
)
async def test_an_invalid_url_is_refused(outbound: OutboundClient, url: str) -> None:
    with pytest.raises(UnsafeDestinationError, match="valid"):
        await outbound.get(url)


async def test_5xx_is_retried_until_the_server_recovers(
    server: LocalServer, script: Script, outbound: OutboundClient, sleeps: Sleeps
) -> None:
    script.replies = [Reply(503), Reply(502), Reply(200, b"back")]
    response = await outbound.get(f"{server.url}/flaky")
    assert response.text == "back"
    assert server.hits == 3
    assert len(sleeps.waits) == 2


async def test_429_waits_as_long_as_retry_after_says(
    server: LocalServer, script: Script, outbound: OutboundClient, sleeps: Sleeps
) -> None:
    script.replies = [Reply(429, headers=[("Retry-After", "2")]), Reply(200, b"ok")]
    await outbound.get(f"{server.url}/limited")
    assert sleeps.waits == [2.0]


async def test_5xx_that_persists_becomes_a_503_problem(
    server: LocalServer, script: Script, outbound: OutboundClient
) -> None:
    script.replies = [Reply(503, headers=[("Retry-After", "40")])]
    with pytest.raises(UpstreamUnavailableError) as unavailable:
        await outbound.get(f"{server.url}/down")
    error = unavailable.value
    assert (error.status, error.code, error.retry_after) == (503, "UPSTREAM_UNAVAILABLE", 40)
    assert isinstance(error.__cause__, httpx.HTTPStatusError)
    assert server.hits == 3


async def test_a_post_is_not_repeated_without_an_idempotency_key(
    server: LocalServer, script: Script, outbound: OutboundClient
) -> None:
    script.replies = [Reply(503)]
    with pytest.raises(UpstreamUnavailableError):
        await outbound.post(f"{server.url}/orders", json={"n": 1})
    assert server.hits == 1
    with pytest.raises(UpstreamUnavailableError):
        await outbound.post(
            f"{server.url}/orders", json={"n": 1}, headers={"Idempotency-Key": "k1"}
        )
    assert server.hits == 4
    assert {request.body for request in server.received} == {b'{"n":1}'}


async def test_a_4xx_is_returned_not_retried(
    server: LocalServer, script: Script, outbound: OutboundClient
) -> None:
    script.replies = [Reply(404, b"no such thing")]
    response = await outbound.get(f"{server.url}/missing")
    assert (response.status_code, response.text) == (404, "no such thing")
    assert server.hits == 1


async def test_a_refused_connection_becomes_a_503_problem(
    outbound: OutboundClient, sleeps: Sleeps
) -> None:
    with pytest.raises(UpstreamUnavailableError, match="could not be reached") as unavailable:
        await outbound.get(f"http://127.0.0.1:{free_port()}/")
    assert isinstance(unavailable.value.__cause__, httpx.ConnectError)
    assert len(sleeps.waits) == 2


async def test_timeouts_and_limits_come_from_the_settings() -> None:
    settings = AppSettings(
        outbound_connect_timeout=1.5,
        outbound_read_timeout=4.0,
        outbound_max_response_bytes=2048,
        outbound_max_redirects=1,
        outbound_allowed_networks="10.20.0.0/16,::1",
        outbound_retry_attempts=2,
    )
    async with OutboundClient.from_settings(settings, "partner") as client:
        timeout = client._http.timeout
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (1.5, 4.0, 4.0, 1.5)
    assert client.policy == OutboundPolicy(1.5, 4.0, 2048, 1, ("10.20.0.0/16", "::1"))
    assert client.retry.max_attempts == 2
