"""Who a request counts against: trusted proxies only, right-most untrusted hop, principals."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from starlette.types import Scope
from tests.unit.ratelimit.conftest import serving

PEER = "198.51.100.7"
PROXY = "10.0.0.5"


async def test_forwarded_for_from_an_untrusted_peer_changes_nothing(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(rate_limit_default="2/hour")
    async with serving(app) as client:
        http = client(PEER)
        statuses = [
            (await http.get("/ping", headers={"X-Forwarded-For": f"203.0.113.{n}"})).status_code
            for n in range(4)
        ]
    assert statuses == [200, 200, 429, 429], "a client cannot pick its own bucket"


@pytest.mark.parametrize("trusted", ["10.0.0.0/8", "10.0.0.1/8", "10.0.0.5"])
async def test_behind_a_trusted_proxy_the_right_most_untrusted_hop_counts(
    make_app: Callable[..., FastAPI], trusted: str
) -> None:
    app = make_app(rate_limit_default="2/hour", trusted_proxies=[trusted])
    async with serving(app) as client:
        proxy = client(PROXY)
        spoofed = [
            (
                await proxy.get("/ping", headers={"X-Forwarded-For": f"203.0.113.{n}, {PEER}"})
            ).status_code
            for n in range(3)
        ]
        other = await proxy.get("/ping", headers={"X-Forwarded-For": "192.0.2.44"})
    assert spoofed == [200, 200, 429], "the spoofed left-most hop is ignored"
    assert other.status_code == 200, "another real client has its own bucket"


async def test_a_chain_of_trusted_proxies_is_walked_from_the_right(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(rate_limit_default="1/hour", trusted_proxies=["10.0.0.0/8"])
    async with serving(app) as client:
        proxy = client(PROXY)
        first = await proxy.get("/ping", headers={"X-Forwarded-For": f"{PEER}, 10.1.2.3"})
        second = await proxy.get(
            "/ping", headers={"X-Forwarded-For": f"203.0.113.9, {PEER}, 10.9.9.9"}
        )
        direct = await client("10.0.0.6").get("/ping")
    assert first.status_code == 200
    assert second.status_code == 429, "same client behind two proxies"
    assert direct.status_code == 200, "each proxy's own requests are its own"


async def test_forwarded_for_from_a_peer_outside_the_trusted_networks_is_ignored(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(rate_limit_default="1/hour", trusted_proxies=["10.0.0.0/8"])
    async with serving(app) as client:
        outsider = client("192.0.2.1")
        first = await outsider.get("/ping", headers={"X-Forwarded-For": "203.0.113.1"})
        second = await outsider.get("/ping", headers={"X-Forwarded-For": "203.0.113.2"})
        real = await client(PROXY).get("/ping", headers={"X-Forwarded-For": "203.0.113.1"})
    assert (first.status_code, second.status_code) == (200, 429)
    assert real.status_code == 200, "203.0.113.1 itself was never charged"


def _user_header(scope: Scope) -> str | None:
    """Stands in for a verified token: tests only."""
    for name, value in scope["headers"]:
        if name == b"x-test-user":
            return value.decode()
    return None


async def _async_user_header(scope: Scope) -> str | None:
    return _user_header(scope)


@pytest.mark.parametrize("principal", [_user_header, _async_user_header])
async def test_an_authenticated_caller_counts_as_itself(
    make_app: Callable[..., FastAPI], principal: Callable[[Scope], object]
) -> None:
    app = make_app(rate_limit_default="1/hour", rate_limit_principal=principal)
    async with serving(app) as client:
        shared_ip = client(PEER)
        alice = await shared_ip.get("/ping", headers={"X-Test-User": "alice"})
        alice_again = await client("203.0.113.50").get("/ping", headers={"X-Test-User": "alice"})
        bob = await shared_ip.get("/ping", headers={"X-Test-User": "bob"})
        anonymous = await shared_ip.get("/ping")
        anonymous_again = await shared_ip.get("/ping")
    assert alice.status_code == 200
    assert alice_again.status_code == 429, "a principal's quota follows it across addresses"
    assert bob.status_code == 200
    assert (anonymous.status_code, anonymous_again.status_code) == (200, 429)


async def test_odd_principal_ids_are_safe(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(rate_limit_default="1/hour", rate_limit_principal=_user_header)
    odd = {"X-Test-User": ("é\x7f" * 5000).encode()}
    async with serving(app) as client:
        http = client()
        first = await http.get("/ping", headers=odd)
        second = await http.get("/ping", headers=odd)
        other = await http.get("/ping", headers={"X-Test-User": ("é\x7f" * 4999).encode()})
    assert (first.status_code, second.status_code, other.status_code) == (200, 429, 200)
