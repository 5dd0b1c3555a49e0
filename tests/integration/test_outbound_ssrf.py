"""Outbound HTTP refuses internal targets and cross-host redirects, before a byte is sent.

A real server listens on 127.0.0.1; the client refuses it (and every other
non-public address) unless the test's policy allows loopback, and the
server's request count shows nothing reached it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest
import pytest_asyncio
from tests.unit.resilience.local_http import LocalServer, Received, Reply

from tiered.resilience import (
    OutboundClient,
    OutboundPolicy,
    RetryPolicy,
    UnsafeDestinationError,
    UpstreamResponseError,
)

LOOPBACK = ("127.0.0.0/8", "::1/128")


def route(request: Received) -> Reply:
    if request.path == "/elsewhere":
        return Reply(302, headers=[("Location", request.headers["x-target"])])
    if request.path == "/hop":
        return Reply(307, headers=[("Location", "/final")])
    if request.path == "/loop":
        return Reply(302, headers=[("Location", "/loop")])
    return Reply(200, f"{request.method} {request.path}".encode())


@pytest_asyncio.fixture
async def server() -> AsyncIterator[LocalServer]:
    async with LocalServer(route) as running:
        yield running


def client(*allowed: str, max_redirects: int = 5) -> OutboundClient:
    return OutboundClient(
        "partner",
        policy=OutboundPolicy(allowed_networks=allowed, max_redirects=max_redirects),
        retry=RetryPolicy(max_attempts=1),
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/",
        "http://[::1]:{port}/",
        "http://localhost:{port}/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://0.0.0.0:{port}/",
    ],
)
async def test_internal_targets_are_refused(server: LocalServer, url: str) -> None:
    async with client() as outbound:
        with pytest.raises(UnsafeDestinationError) as refused:
            await outbound.get(url.format(port=server.port))
    assert refused.value.status == 400
    assert refused.value.code == "UNSAFE_DESTINATION"
    assert server.hits == 0


async def test_a_name_resolving_to_loopback_is_refused(server: LocalServer) -> None:
    async def internal_dns(host: str, port: int) -> Sequence[str]:
        return ["127.0.0.1"]

    outbound = OutboundClient("partner", resolver=internal_dns, retry=RetryPolicy(max_attempts=1))
    async with outbound:
        with pytest.raises(UnsafeDestinationError, match=r"payments\.internal"):
            await outbound.get(f"http://payments.internal:{server.port}/")
    assert server.hits == 0


async def test_an_allowed_network_is_reached(server: LocalServer) -> None:
    async with client(*LOOPBACK) as outbound:
        response = await outbound.get(f"{server.url}/status")
    assert (response.status_code, response.text) == (200, "GET /status")
    assert server.hits == 1


async def test_a_redirect_to_another_host_is_refused(server: LocalServer) -> None:
    target = f"http://localhost:{server.port}/stolen"
    async with client(*LOOPBACK) as outbound:
        with pytest.raises(UnsafeDestinationError, match="another host"):
            await outbound.get(f"{server.url}/elsewhere", headers={"X-Target": target})
    assert [request.path for request in server.received] == ["/elsewhere"]


async def test_every_connection_is_checked_again_after_a_redirect(server: LocalServer) -> None:
    answers = iter([["127.0.0.1"], ["127.0.0.2"]])

    async def rebinding_dns(host: str, port: int) -> Sequence[str]:
        return next(answers)

    outbound = OutboundClient(
        "partner",
        policy=OutboundPolicy(allowed_networks=("127.0.0.1/32",)),
        retry=RetryPolicy(max_attempts=1),
        resolver=rebinding_dns,
    )
    async with outbound:
        with pytest.raises(UnsafeDestinationError, match=r"127\.0\.0\.2"):
            await outbound.get(f"http://partner.test:{server.port}/hop")
    assert [request.path for request in server.received] == ["/hop"]


async def test_a_redirect_on_the_same_host_is_followed(server: LocalServer) -> None:
    async with client(*LOOPBACK) as outbound:
        response = await outbound.post(f"{server.url}/hop", json={"a": 1})
    assert response.text == "POST /final"
    assert [request.path for request in server.received] == ["/hop", "/final"]
    assert server.received[1].body == b'{"a":1}'


async def test_a_redirect_loop_is_abandoned(server: LocalServer) -> None:
    async with client(*LOOPBACK, max_redirects=3) as outbound:
        with pytest.raises(UpstreamResponseError) as abandoned:
            await outbound.get(f"{server.url}/loop")
    assert (abandoned.value.status, abandoned.value.code) == (502, "UPSTREAM_TOO_MANY_REDIRECTS")
    assert server.hits == 4


@pytest.mark.parametrize("url", ["ftp://example.com/file", "file:///etc/passwd", "/relative"])
async def test_only_http_urls_with_a_host_are_sent(url: str) -> None:
    async with client() as outbound:
        with pytest.raises(UnsafeDestinationError, match="http or https URL with a valid host"):
            await outbound.get(url)
