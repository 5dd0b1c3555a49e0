"""Per-request context: id, access log, metrics, response headers, N+1 guard, HEAD, the last 500.

One pure-ASGI layer does all of it because they share the same bookkeeping
(start time, status, request id) and every extra layer costs CPU on every
request. The catch-all lives here rather than in Starlette's outermost
``ServerErrorMiddleware`` so that the 500 problem still carries the request id
and the security headers.

HEAD (RFC 9110 §9.3.2) must work wherever GET does. Starlette routes and static
files already answer it, FastAPI's path operations do not; and adding HEAD to
their methods would make the OpenAPI schema list a second operation per GET.
So a HEAD request goes to the app as it is, and only when the answer is a 405
is it replayed as a GET: an explicit HEAD route still wins, the schema is
untouched, and other requests pay nothing. Every HEAD response goes out with
the headers of the GET (``Content-Length`` and ``ETag`` included) and no body,
whatever the server does; a 405 that allows GET also allows HEAD, and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tiered.errors.hierarchy import InternalError
from tiered.errors.problem import problem_for_error
from tiered.http.header_completers import HEADER_COMPLETERS, HeaderCompleter
from tiered.http.request_id import REQUEST_ID_HEADER, request_id_for
from tiered.http.response_headers import ResponseHeaders
from tiered.observability.logging import get_logger, log_request
from tiered.observability.metrics import HttpMetrics
from tiered.observability.request_scope import (
    RequestScope,
    StatementGuard,
    enter_request,
    leave_request,
)

__all__ = ["RequestContextMiddleware"]

_HEADER = REQUEST_ID_HEADER.encode("latin-1")
_ALLOW = b"allow"


def _allowed(message: Message) -> list[str] | None:
    """The methods of a response's ``Allow`` header, ``None`` without one."""
    for key, value in message.get("headers", ()):
        if key.lower() == _ALLOW:
            return [method.strip() for method in value.decode("latin-1").split(",")]
    return None


def _allow_head_with_get(message: Message) -> None:
    """A 405 whose ``Allow`` has GET lists HEAD too: this layer answers it."""
    allowed = _allowed(message)
    if allowed is None or "GET" not in allowed or "HEAD" in allowed:
        return
    value = ", ".join([*allowed, "HEAD"]).encode("latin-1")
    message["headers"] = [
        (key, value if key.lower() == _ALLOW else original) for key, original in message["headers"]
    ]


async def _answer_head(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve a HEAD request; on a 405, answer what a GET gets, without its body.

    Any 405 is replayed, not only one whose ``Allow`` has GET: the router
    reports the methods of the first route on the path, so a POST route
    declared before the GET one would otherwise hide it.
    """
    original = dict(scope)
    replay = False

    async def send_headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)

    async def send_unless_refused(message: Message) -> None:
        nonlocal replay
        if message["type"] == "http.response.start" and message["status"] == 405:
            replay = True
        if not replay:
            await send_headers_only(message)

    await app(scope, receive, send_unless_refused)
    if replay:
        await app({**original, "method": "GET"}, receive, send_headers_only)


class RequestContextMiddleware:
    """The edge of the app: everything done once per request, in one layer.

    ``response_headers`` completes the headers of every response (security
    headers, private caching); ``statement_threshold`` turns on the N+1 guard,
    which fails the request when ``strict_statements`` and logs the statement
    otherwise. The request's id and guard go in the `RequestScope` it runs in.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: HttpMetrics | None = None,
        response_headers: ResponseHeaders | None = None,
        statement_threshold: int | None = None,
        strict_statements: bool = True,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.response_headers = response_headers
        self.guard = (
            None
            if statement_threshold is None
            else StatementGuard(statement_threshold, strict_statements)
        )
        self.timer = timer
        self.log = get_logger("tiered.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = self.timer()
        request_id = request_id_for(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        echoed = (_HEADER, request_id.encode("latin-1"))
        completed = self.response_headers
        completers: list[HeaderCompleter] = []
        scope[HEADER_COMPLETERS] = completers
        status = 500
        response_started = False

        async def send_with_context(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = message.get("headers", ())
                for complete in completers:
                    headers = complete(headers if type(headers) is list else list(headers))
                message["headers"] = (
                    [*headers, echoed]
                    if completed is None
                    else completed.complete(scope, headers, echoed)
                )
                if status == 405:
                    _allow_head_with_get(message)
            await send(message)

        request = RequestScope(request_id, self.guard)
        token = enter_request(request)
        try:
            if scope["method"] == "HEAD":
                await _answer_head(self.app, scope, receive, send_with_context)
            else:
                await self.app(scope, receive, send_with_context)
        except Exception:
            self.log.exception("unhandled_error", method=scope["method"], path=scope["path"])
            if response_started:
                raise
            response = problem_for_error(
                InternalError("The server failed to complete the request; it has been logged."),
                instance=scope["path"],
                request_id=request_id,
            )
            await response(scope, receive, send_with_context)
        finally:
            elapsed = self.timer() - started_at
            client = scope.get("client")
            log_request(
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=int(elapsed * 1_000_000 + 0.5) / 1000,
                client=client[0] if client else None,
                request_id=request_id,
                principal_id=request.principal_id,
            )
            if self.metrics is not None:
                self.metrics.observe_request(scope, status, elapsed)
            leave_request(token)
