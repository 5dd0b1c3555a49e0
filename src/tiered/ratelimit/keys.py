"""Who a request counts against: its principal when the app knows it, else its address.

The address is the ASGI ``client`` host. Behind a reverse proxy it is the
proxy's, unless the proxy-headers middleware (installed by ``create_app`` when
``trusted_proxies`` is set) has replaced it with the right-most
``X-Forwarded-For`` hop that is not a trusted proxy: the one address a client
cannot forge, since its own proxy appended it. Headers from anyone else are
ignored there, so a client cannot pick its own bucket.

An IPv6 client is counted by its /64 network: one subscriber commonly holds a
whole /64, and would otherwise get a fresh allowance per address.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import lru_cache
from hashlib import sha256
from ipaddress import IPv6Address, ip_network

from starlette.types import Scope

__all__ = [
    "MAX_KEY_LENGTH",
    "PrincipalOf",
    "client_address_key",
    "principal_key",
    "storage_key",
]

MAX_KEY_LENGTH = 128

PrincipalOf = Callable[[Scope], str | Awaitable[str | None] | None]
"""The app's answer to "who is this?" for a request, before routing: a verified principal
id, or ``None`` for an anonymous request. It must verify what it reads (a token's
signature): an unverified claim would let anyone spend someone else's allowance."""


_LONGEST_IPV4 = len("255.255.255.255")
_LONGEST_IPV6 = len("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%interface")


@lru_cache(maxsize=4096)
def _ipv6_key(host: str) -> str:
    try:
        address = IPv6Address(host.split("%", 1)[0])
    except ValueError:
        return storage_key(f"ip:{host}")
    if address.ipv4_mapped is not None:
        return f"ip:{address.ipv4_mapped}"
    return f"ip:{ip_network((address, 64), strict=False)}"


def client_address_key(scope: Scope) -> str:
    """``ip:203.0.113.9``, ``ip:2001:db8:1:2::/64``, or ``ip:unknown`` without a client.

    Whatever the host is (a proxy may forward any text), the key is bounded.
    """
    client = scope.get("client")
    if not client:
        return "ip:unknown"
    host: str = client[0]
    if ":" in host:
        return _ipv6_key(host) if len(host) <= _LONGEST_IPV6 else storage_key(f"ip:{host}")
    if len(host) > _LONGEST_IPV4:
        return storage_key(f"ip:{host}")
    return f"ip:{host}"


def principal_key(principal: str) -> str:
    return f"principal:{principal}"


def storage_key(key: str) -> str:
    """``key`` as stored: long, non-ASCII or unprintable keys become a SHA-256 digest.

    Bounds the memory a key costs and keeps every store's key printable ASCII,
    whatever a principal id contains (NUL, lone surrogates, megabytes).
    """
    if len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable():
        return key
    return "sha256:" + sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
