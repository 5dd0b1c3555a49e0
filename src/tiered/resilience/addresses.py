"""Which IP addresses outbound HTTP may connect to (server-side request forgery).

A service that fetches a URL it was given (a webhook, an avatar, an import)
can be pointed at ``http://169.254.169.254/`` (the cloud metadata service),
``http://127.0.0.1:6379/`` or an admin page on the private network. The
defence is on the address actually connected to, not the URL's text: the
host is resolved, *every* address it resolves to must be a public unicast
one (an attacker's DNS may answer one public and one private address), and
the connection is made to an address that was checked, so a second lookup
cannot swap in another (DNS rebinding).

Refused unless a configured network contains them: loopback, private,
link-local, shared (carrier-grade NAT), multicast, reserved, unspecified and
documentation addresses, including IPv4 addresses embedded in IPv6 (mapped,
6to4, Teredo, NAT64) - anything ``ipaddress`` does not call global.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from tiered.resilience.errors import UnsafeDestinationError

__all__ = ["AddressGuard", "IPAddress", "Resolver", "resolve_host"]

IPAddress = IPv4Address | IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``(host, port) -> addresses``: how a host name becomes IP addresses (DNS by default)."""

_NAT64 = ip_network("64:ff9b::/96")


async def resolve_host(host: str, port: int) -> Sequence[str]:
    """The addresses the system resolver gives for ``host`` (TCP), in its order, deduplicated."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True, slots=True)
class AddressGuard:
    """Checks addresses against the public-unicast rule and the networks allowed anyway."""

    allowed_networks: tuple[IPv4Network | IPv6Network, ...] = ()
    resolver: Resolver = resolve_host

    @classmethod
    def allowing(cls, networks: Iterable[str], resolver: Resolver | None = None) -> AddressGuard:
        """A guard that also lets ``networks`` through (``"10.20.0.0/16"``, ``"::1"``)."""
        parsed = tuple(ip_network(network, strict=False) for network in networks)
        return cls(parsed, resolver or resolve_host)

    def permits(self, address: IPAddress) -> bool:
        if any(address in network for network in self.allowed_networks):
            return True
        if isinstance(address, IPv6Address):
            if address.scope_id:
                return False
            embedded = _embedded_ipv4(address)
            if embedded is not None:
                return self.permits(embedded)
        return address.is_global and not address.is_multicast

    def check(self, host: str, address: str) -> IPAddress:
        """``address`` parsed, or :class:`UnsafeDestinationError` naming ``host``."""
        try:
            parsed = ip_address(address)
        except ValueError as error:
            raise UnsafeDestinationError(f"{host} resolved to an unusable address") from error
        if not self.permits(parsed):
            if host.strip("[]") == address:
                reason = "it is not a public address"
            else:
                reason = f"it resolves to {parsed}, which is not a public address"
            raise UnsafeDestinationError(f"Refusing to connect to {host}: {reason}.")
        return parsed

    async def vetted_addresses(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to, all checked; refused if any one is not allowed."""
        try:
            literal: IPAddress | None = ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            return [str(self.check(host, str(literal)))]
        addresses = await self.resolver(host, port)
        if not addresses:
            raise OSError(f"{host} did not resolve to any address")
        return [str(self.check(host, address)) for address in addresses]
