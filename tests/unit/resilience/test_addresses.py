"""``AddressGuard``: only public unicast addresses, unless a network is allowed."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import ip_address

import pytest

from tiered.resilience import AddressGuard, UnsafeDestinationError

REFUSED = [
    "127.0.0.1",
    "127.1.2.3",
    "::1",
    "0.0.0.0",
    "::",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "192.0.2.10",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "ff0e::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::",
    "64:ff9b::a9fe:a9fe",
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


def fixed_resolver(*addresses: str) -> AddressGuard:
    async def resolve(host: str, port: int) -> Sequence[str]:
        return addresses

    return AddressGuard(resolver=resolve)


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not AddressGuard().permits(ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_permitted(address: str) -> None:
    assert AddressGuard().permits(ip_address(address))


def test_an_allowed_network_is_permitted_and_nothing_more() -> None:
    guard = AddressGuard.allowing(["127.0.0.0/8", "10.20.0.0/16"])
    assert guard.permits(ip_address("127.0.0.1"))
    assert guard.permits(ip_address("10.20.3.4"))
    assert guard.permits(ip_address("::ffff:127.0.0.1"))
    assert not guard.permits(ip_address("10.21.0.1"))
    assert not guard.permits(ip_address("169.254.169.254"))


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "::1", "169.254.169.254", "10.0.0.1"])
async def test_a_literal_address_is_refused_without_resolving(host: str) -> None:
    async def never(host: str, port: int) -> Sequence[str]:
        raise AssertionError("a literal address must not be resolved")

    with pytest.raises(UnsafeDestinationError, match="not a public address"):
        await AddressGuard(resolver=never).vetted_addresses(host, 80)


async def test_a_name_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(UnsafeDestinationError, match="localhost"):
        await AddressGuard().vetted_addresses("localhost", 80)


async def test_one_private_answer_among_public_ones_refuses_the_host() -> None:
    guard = fixed_resolver("93.184.216.34", "10.0.0.7")
    with pytest.raises(UnsafeDestinationError, match=r"10\.0\.0\.7"):
        await guard.vetted_addresses("mixed.example", 443)


async def test_a_public_name_gives_its_checked_addresses() -> None:
    guard = fixed_resolver("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")
    assert await guard.vetted_addresses("example.com", 443) == [
        "93.184.216.34",
        "2606:2800:220:1:248:1893:25c8:1946",
    ]


async def test_a_name_resolving_to_nothing_is_a_connection_error() -> None:
    with pytest.raises(OSError, match="did not resolve"):
        await fixed_resolver().vetted_addresses("void.example", 80)
