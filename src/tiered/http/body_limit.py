"""Request body size limits (413 problem), enforced before the body is buffered.

A declared ``Content-Length`` over the limit is refused without reading a byte;
a chunked body is counted as it streams and refused as soon as it crosses the
limit, so a client can never make the process buffer more than the limit. The
413 is sent from here and the application sees a disconnect: whatever it makes
of that (FastAPI turns body errors into a 400) never reaches the client.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tiered.errors.hierarchy import PayloadTooLargeError
from tiered.errors.problem import problem_for_error
from tiered.http.request_id import request_id_of

__all__ = ["BodyLimitMiddleware"]


class BodyLimitMiddleware:
    """``max_bytes`` for every route; ``limits`` maps a path prefix to its own limit."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limits = sorted((limits or {}).items(), key=lambda item: len(item[0]), reverse=True)

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            error = _too_large(limit)
            response = problem_for_error(
                error, instance=scope["path"], request_id=request_id_of(scope)
            )
            await response(scope, receive, send)
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
                    response = problem_for_error(
                        _too_large(limit), instance=scope["path"], request_id=request_id_of(scope)
                    )
                    await response(scope, receive, send)
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


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"The request body exceeds the limit of {limit} bytes.", details={"limit_bytes": limit}
    )


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
