"""Per-request context: id, access log, metrics and the last-resort 500.

One pure-ASGI layer does all four because they share the same bookkeeping
(start time, status, request id) and every extra layer costs CPU on every
request. The catch-all lives here rather than in Starlette's outermost
``ServerErrorMiddleware`` so that the 500 problem still carries the request id
and passes through the security-headers layer, which is mounted outside this one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tiered.errors.hierarchy import InternalError
from tiered.errors.problem import problem_for_error
from tiered.http.request_id import REQUEST_ID_HEADER, accept_or_generate
from tiered.observability.logging import get_logger
from tiered.observability.metrics import HttpMetrics

__all__ = ["RequestContextMiddleware"]

_HEADER = REQUEST_ID_HEADER.encode("latin-1")
_UNMATCHED_ROUTE = "<unmatched>"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else _UNMATCHED_ROUTE


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: HttpMetrics | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.timer = timer
        self.log = get_logger("tiered.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = self.timer()
        request_id = accept_or_generate(_header(scope, _HEADER))
        scope.setdefault("state", {})["request_id"] = request_id
        echoed = (_HEADER, request_id.encode("latin-1"))
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            self.log.exception("unhandled_error", method=scope["method"], path=scope["path"])
            if response_started:
                raise
            response = problem_for_error(
                InternalError("The server failed to complete the request; it has been logged."),
                instance=scope["path"],
                request_id=request_id,
            )
            await response(scope, receive, send_with_id)
        finally:
            elapsed = self.timer() - started_at
            self.log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round(elapsed * 1000, 3),
                client=scope["client"][0] if scope.get("client") else None,
            )
            if self.metrics is not None:
                self.metrics.observe(scope["method"], _route_template(scope), status, elapsed)
            structlog.contextvars.reset_contextvars(**tokens)
