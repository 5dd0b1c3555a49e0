"""``OutboundClient``: httpx for calling other services, with the defences built in.

Every request gets connect and read timeouts; a response body is read as a
stream and abandoned past ``max_response_bytes``; redirects are followed by
hand, only to the same host and never from https down to http; and every
connection, redirects included, goes to an address the
:class:`~tiered.resilience.AddressGuard` allowed (no loopback, private,
link-local, multicast or reserved targets unless the settings allow a
network).

Retry and breaker compose as retry *outside*, breaker *inside*: each attempt
passes through the breaker, so every failed attempt counts against the
dependency, and once the circuit opens the next attempt is refused at once
(``CircuitBreakerOpenError`` is not retried) instead of waiting out its
backoff against a dependency known to be down. Only requests that are safe to
repeat are retried: idempotent methods, or any request with an
``Idempotency-Key`` header.

A 5xx or 429 that survives the retries, a timeout or a refused connection
becomes :class:`~tiered.resilience.UpstreamUnavailableError` (503); an
oversized or undecodable body or a redirect loop
:class:`~tiered.resilience.UpstreamResponseError` (502); an invalid URL, a refused
address or redirect :class:`~tiered.resilience.UnsafeDestinationError` (400). Other
statuses are returned: a 404 from another service is for the
caller to interpret.
"""

from __future__ import annotations

import math
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import ip_address
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx

from tiered.resilience.addresses import AddressGuard, Resolver
from tiered.resilience.breaker import CircuitBreaker
from tiered.resilience.classify import is_transient_status, retry_after_of
from tiered.resilience.errors import (
    UnsafeDestinationError,
    UpstreamResponseError,
    UpstreamUnavailableError,
)
from tiered.resilience.retry import RetryPolicy
from tiered.resilience.transport import GuardedTransport

if TYPE_CHECKING:
    from tiered.settings import AppSettings

__all__ = ["IDEMPOTENT_METHODS", "OutboundClient", "OutboundPolicy"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_SCHEMES = frozenset({"http", "https"})
_DECODED_AWAY = ("content-encoding", "content-length", "transfer-encoding")
_MAX_RETRY_AFTER = 3600
_HOST_NAME = re.compile(rb"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?")


def _valid_host(raw_host: bytes) -> bool:
    """A DNS name (IDNA-encoded by httpx) or an IP address; not escapes, spaces or nothing."""
    if _HOST_NAME.fullmatch(raw_host):
        return True
    try:
        ip_address(raw_host.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Limits of outbound requests (seconds and bytes); see the ``outbound_*`` settings."""

    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    max_response_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    allowed_networks: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: AppSettings) -> OutboundPolicy:
        return cls(
            connect_timeout=settings.outbound_connect_timeout,
            read_timeout=settings.outbound_read_timeout,
            max_response_bytes=settings.outbound_max_response_bytes,
            max_redirects=settings.outbound_max_redirects,
            allowed_networks=tuple(settings.outbound_allowed_networks),
        )

    @property
    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            self.read_timeout,
            connect=self.connect_timeout,
            pool=self.connect_timeout,
        )


class OutboundClient:
    """Calls to one other service, named ``name`` in errors, logs and its breaker.

    ``retry`` defaults to :class:`RetryPolicy` (pass ``RetryPolicy(max_attempts=1)``
    for none); ``breaker`` is optional; ``resolver`` replaces DNS (tests).
    """

    def __init__(
        self,
        name: str,
        *,
        base_url: str = "",
        policy: OutboundPolicy | None = None,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        headers: Mapping[str, str] | None = None,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.name = name
        self.policy = policy or OutboundPolicy()
        self.retry = retry or RetryPolicy()
        self.breaker = breaker
        self.guard = AddressGuard.allowing(self.policy.allowed_networks, resolver)
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=self.policy.timeout,
            follow_redirects=False,
            trust_env=False,
            transport=GuardedTransport(self.guard, verify=verify),
        )

    @classmethod
    def from_settings(
        cls,
        settings: AppSettings,
        name: str,
        *,
        base_url: str = "",
        breaker: CircuitBreaker | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> OutboundClient:
        return cls(
            name,
            base_url=base_url,
            policy=OutboundPolicy.from_settings(settings),
            retry=RetryPolicy(max_attempts=settings.outbound_retry_attempts),
            breaker=breaker,
            headers=headers,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, url: str, **options: Any) -> httpx.Response:
        return await self.request("GET", url, **options)

    async def post(self, url: str, **options: Any) -> httpx.Response:
        return await self.request("POST", url, **options)

    async def put(self, url: str, **options: Any) -> httpx.Response:
        return await self.request("PUT", url, **options)

    async def delete(self, url: str, **options: Any) -> httpx.Response:
        return await self.request("DELETE", url, **options)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request (retried if safe to repeat); the response, its body read."""
        try:
            request = self._http.build_request(
                method, url, params=params, headers=headers, content=content, json=json, data=data
            )
        except httpx.InvalidURL as error:
            raise UnsafeDestinationError("Outbound requests need a valid URL.") from error
        if request.url.scheme not in _SCHEMES or not _valid_host(request.url.raw_host):
            raise UnsafeDestinationError(
                "Outbound requests need an http or https URL with a valid host."
            )
        repeatable = request.method in IDEMPOTENT_METHODS or "idempotency-key" in request.headers
        try:
            if repeatable:
                return await self.retry.call(self._attempt, request)
            return await self._attempt(request)
        except httpx.HTTPStatusError as error:
            status = error.response.status_code
            hinted = retry_after_of(error, self.retry.clock.now())
            raise UpstreamUnavailableError(
                f"{self.name} answered {status}.",
                retry_after=None if hinted is None else min(_MAX_RETRY_AFTER, math.ceil(hinted)),
            ) from error
        except httpx.DecodingError as error:
            raise UpstreamResponseError(
                f"The response of {self.name} could not be decoded.",
                code="UPSTREAM_RESPONSE_UNDECODABLE",
            ) from error
        except httpx.TimeoutException as error:
            raise UpstreamUnavailableError(f"{self.name} did not answer in time.") from error
        except httpx.TransportError as error:
            raise UpstreamUnavailableError(f"{self.name} could not be reached.") from error

    async def _attempt(self, request: httpx.Request) -> httpx.Response:
        if self.breaker is None:
            return await self._exchange(request)
        async with self.breaker:
            return await self._exchange(request)

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        response = await self._follow(request)
        try:
            if is_transient_status(response.status_code):
                raise httpx.HTTPStatusError(
                    f"{self.name} answered {response.status_code}",
                    request=response.request,
                    response=response,
                )
            body = await self._read_capped(response)
        finally:
            await response.aclose()
        headers = [(k, v) for k, v in response.headers.multi_items() if k not in _DECODED_AWAY]
        return httpx.Response(
            response.status_code, headers=headers, content=body, request=response.request
        )

    async def _follow(self, request: httpx.Request) -> httpx.Response:
        origin = request.url
        for _ in range(self.policy.max_redirects + 1):
            response = await self._http.send(request, stream=True, follow_redirects=False)
            following = response.next_request
            if following is None:
                return response
            await response.aclose()
            self._check_redirect(origin, following.url)
            request = following
        raise UpstreamResponseError(
            f"{self.name} redirected more than {self.policy.max_redirects} times.",
            code="UPSTREAM_TOO_MANY_REDIRECTS",
        )

    def _check_redirect(self, origin: httpx.URL, target: httpx.URL) -> None:
        if target.host != origin.host:
            raise UnsafeDestinationError(
                f"{self.name} redirected to another host ({target.host}); not followed."
            )
        if target.scheme not in _SCHEMES or (origin.scheme == "https" and target.scheme != "https"):
            raise UnsafeDestinationError(
                f"{self.name} redirected from {origin.scheme} to {target.scheme}; not followed."
            )

    async def _read_capped(self, response: httpx.Response) -> bytes:
        limit = self.policy.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise self._too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, limit: int) -> UpstreamResponseError:
        return UpstreamResponseError(
            f"The response of {self.name} is larger than {limit} bytes; abandoned.",
            code="UPSTREAM_RESPONSE_TOO_LARGE",
        )
