"""An httpx transport that connects only to addresses an :class:`AddressGuard` has checked.

httpx resolves and connects inside httpcore's network backend, so that is
where the check goes: the backend here resolves the host itself, refuses the
connection if any address is not allowed, and then connects to a checked
address (TLS still verifies the certificate against the host name, which
httpcore passes separately). Every connection goes through it, those made
after a redirect included; proxies are never used (``trust_env`` off), since a
proxy would resolve the host where no check runs.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable

import httpcore
import httpx

from tiered.resilience.addresses import AddressGuard
from tiered.resilience.errors import UnsafeDestinationError

__all__ = ["CheckedNetworkBackend", "GuardedTransport"]

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)
"""httpcore's type of a socket option (``setsockopt`` arguments)."""


class CheckedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, behind an address check."""

    def __init__(self, guard: AddressGuard, inner: httpcore.AsyncNetworkBackend | None = None):
        self.guard = guard
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self.guard.vetted_addresses(host, port)
        except TimeoutError as error:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from error
        except OSError as error:
            raise httpcore.ConnectError(f"resolving {host} failed: {error}") from error
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeDestinationError("Outbound requests do not use Unix sockets.")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` whose connections go through :class:`CheckedNetworkBackend`.

    httpx does not take a network backend, so the transport's connection pool
    is replaced by one built with it (httpcore's public constructor); the
    attribute it lives in is httpx's, and a test fails if that ever changes.
    """

    def __init__(
        self,
        guard: AddressGuard,
        *,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(verify=verify, trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=CheckedNetworkBackend(guard),
        )
