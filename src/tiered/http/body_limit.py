"""Request body size limits (413 problem), enforced before the body is buffered.

A declared ``Content-Length`` over the limit is refused without buffering a
byte; a chunked body is counted as it streams and refused as soon as it
crosses the limit, so a client can never make the process buffer more than the
limit. The 413 is sent from here and the application sees a disconnect:
whatever it makes of that (FastAPI turns body errors into a 400) never reaches
the client.

Before answering, the rest of a refused body is read and thrown away, up to
``drain_bytes`` and ``drain_seconds``. Most clients (urllib, requests, browsers)
send the whole body before they read anything; if the server closed with
unread bytes in its socket, the kernel would reset the connection and the
client would see the reset instead of the 413. Past either bound the 413 says
``Connection: close`` and the server closes: otherwise it would go on reading
and discarding the body for as long as the client sends it. A client that
asked ``Expect: 100-continue`` gets the 413 at once, without the invitation
to send its body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tiered.errors.hierarchy import PayloadTooLargeError
from tiered.errors.problem import problem_for_error
from tiered.http.request_id import request_id_of

__all__ = ["BodyLimitMiddleware"]

DRAIN_BYTES = 16 * 1024 * 1024
DRAIN_SECONDS = 2.0


class BodyLimitMiddleware:
    """``max_bytes`` for every route; ``limits`` maps a path prefix to its own limit.

    ``drain_bytes`` and ``drain_seconds`` bound what is read of a refused body.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        limits: Mapping[str, int] | None = None,
        drain_bytes: int = DRAIN_BYTES,
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limits = sorted((limits or {}).items(), key=lambda item: len(item[0]), reverse=True)
        self.drain_bytes = drain_bytes
        self.drain_seconds = drain_seconds

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Not a coroutine function: a request it lets by costs no coroutine of its own."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return self.app(scope, receive, send)
        return self._bound(scope, receive, send)

    async def _bound(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            drained = (
                declared <= self.drain_bytes
                and not _expects_continue(scope)
                and await self.drain(receive)
            )
            await self.refuse(scope, receive, send, limit, close=not drained)
            return
        received = 0
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    drained = not message.get("more_body", False) or await self.drain(receive)
                    await self.refuse(scope, receive, send, limit, close=not drained)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise

    async def drain(self, receive: Receive) -> bool:
        """Discard the rest of the body; ``True`` if its end came within the bounds."""
        left = self.drain_bytes
        try:
            async with asyncio.timeout(self.drain_seconds):
                while left >= 0:
                    message = await receive()
                    if message["type"] != "http.request":
                        return False
                    if not message.get("more_body", False):
                        return True
                    left -= len(message.get("body", b""))
        except TimeoutError:
            pass
        return False

    async def refuse(
        self, scope: Scope, receive: Receive, send: Send, limit: int, *, close: bool
    ) -> None:
        error = PayloadTooLargeError(
            f"The request body exceeds the limit of {limit} bytes.",
            details={"limit_bytes": limit},
        )
        response = problem_for_error(error, instance=scope["path"], request_id=request_id_of(scope))
        if close and scope.get("http_version", "1.1") in ("1.0", "1.1"):
            response.headers["connection"] = "close"
        await response(scope, receive, send)


def _expects_continue(scope: Scope) -> bool:
    return any(
        key == b"expect" and value.lower() == b"100-continue" for key, value in scope["headers"]
    )


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
