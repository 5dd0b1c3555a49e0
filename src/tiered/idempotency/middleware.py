"""The pure-ASGI half of idempotency: hash the request body, keep the response.

A FastAPI dependency can claim a key and refuse a request, but it never sees
the bytes the route finally sends, nor (for a form upload) the raw body the
fingerprint needs. This layer sees both. It stays out of the way of every
request without an ``Idempotency-Key`` header; for the others it hashes the
body as the application reads it and leaves a :class:`RequestSlot` in the
scope. When a route's idempotency dependency has claimed the key there, and
the handler returned, the response is buffered, stored under the key, and
only then sent: a client that has its answer can retry at once and get the
replay, never a "still in flight" 409.

A 5xx, a response larger than the dependency allows, or one sent in a way
that cannot be replayed (a file sent by path) releases the key instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from anyio import CancelScope
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tiered.idempotency.records import StoredResponse
from tiered.observability.logging import get_logger

if TYPE_CHECKING:
    from tiered.idempotency.claims import Claim

__all__ = ["SLOT", "IdempotencyMiddleware", "RequestSlot"]

SLOT = "tiered.idempotency"
"""Scope key of the request's :class:`RequestSlot`."""

_HEADER = b"idempotency-key"
_log = get_logger("tiered.idempotency")


class RequestSlot:
    """What the middleware and the route's dependency share for one request."""

    __slots__ = ("body_complete", "body_digest", "claim", "kept_headers", "max_bytes")

    def __init__(self) -> None:
        self.body_digest = hashlib.sha256()
        self.body_complete = False
        self.claim: Claim | None = None
        self.kept_headers: frozenset[bytes] = frozenset()
        self.max_bytes = 0

    def arm(self, claim: Claim, *, kept_headers: frozenset[bytes], max_bytes: int) -> None:
        """Keep this request's response under ``claim`` once its handler returns."""
        self.claim = claim
        self.kept_headers = kept_headers
        self.max_bytes = max_bytes


class _Capture:
    """The ``send`` of one request: passes messages on, or holds them back until stored."""

    __slots__ = ("chunks", "passing", "send", "size", "slot", "start")

    def __init__(self, slot: RequestSlot, send: Send) -> None:
        self.slot = slot
        self.send = send
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.passing = False

    async def __call__(self, message: Message) -> None:
        claim = self.slot.claim
        if self.passing or claim is None or not claim.handled or claim.settled:
            await self.send(message)
            return
        kind = message["type"]
        if kind == "http.response.start" and self.start is None:
            self.start = message
            return
        if kind != "http.response.body" or self.start is None:
            held = [self.body(b"".join(self.chunks), more=True)] if self.chunks else []
            await self.give_up(claim, *held, message)
            return
        self.chunks.append(message.get("body", b""))
        self.size += len(self.chunks[-1])
        more = bool(message.get("more_body", False))
        if self.size > self.slot.max_bytes:
            _log.warning("idempotency_response_too_large", limit=self.slot.max_bytes)
            await self.give_up(claim, self.body(b"".join(self.chunks), more=more))
        elif not more:
            await self.keep(claim, self.start, b"".join(self.chunks))

    @staticmethod
    def body(content: bytes, *, more: bool) -> Message:
        return {"type": "http.response.body", "body": content, "more_body": more}

    async def keep(self, claim: Claim, start: Message, content: bytes) -> None:
        status: int = start["status"]
        if status >= 500:
            await claim.release()
        else:
            kept = self.slot.kept_headers
            headers = tuple(
                (bytes(name), bytes(value))
                for name, value in start.get("headers", ())
                if bytes(name).lower() in kept
            )
            await claim.complete(StoredResponse(status, headers, content))
        self.passing = True
        await self.send(start)
        await self.send(self.body(content, more=False))

    async def give_up(self, claim: Claim, *messages: Message) -> None:
        """Free the key and send what was held back as it came: this response is not kept."""
        await claim.release()
        self.passing = True
        if self.start is not None:
            await self.send(self.start)
        for message in messages:
            await self.send(message)


def _has_key(headers: Any) -> bool:
    for name, _ in headers:  # noqa: SIM110 - a plain loop is twice as fast, on every request
        if name == _HEADER:
            return True
    return False


class IdempotencyMiddleware:
    """Add it with :func:`~tiered.idempotency.install_idempotency`, which wires replays too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Not a coroutine function: a request it lets by costs no coroutine of its own."""
        if scope["type"] != "http" or not _has_key(scope["headers"]):
            return self.app(scope, receive, send)
        return self._keep(scope, receive, send)

    async def _keep(self, scope: Scope, receive: Receive, send: Send) -> None:
        slot = RequestSlot()
        scope[SLOT] = slot

        async def hashing_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and not slot.body_complete:
                slot.body_digest.update(message.get("body", b""))
                slot.body_complete = not message.get("more_body", False)
            return message

        try:
            await self.app(scope, hashing_receive, _Capture(slot, send))
        finally:
            claim = slot.claim
            if claim is not None and not claim.settled:
                with CancelScope(shield=True):
                    await claim.release()
