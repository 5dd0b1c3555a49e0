"""Rate limiting for every request, as one pure-ASGI layer.

Each request is checked once, before the app sees it, against the default
policy and the policy of its route (see :mod:`tiered.ratelimit.routes`). An
admitted response gets one ``RateLimit-Policy`` field (a member per quota)
and one ``RateLimit`` field (the quota closest to exhaustion), whatever the
number of policies; a refused request gets the 429 problem at once, without
the app reading its body. Paths in ``exempt`` (health probes, metrics) are
not limited: an orchestrator polling them must not spend a client's quota,
nor be refused.

It runs inside the request-context middleware, so a 429 has a request id, an
access-log line and a metric like any other response; an admitted response
gets its fields from the request context's header completers (see
:mod:`tiered.http.header_completers`), which saves wrapping ``send`` once more.
Outside it, this layer wraps ``send`` itself. The request context
replays a HEAD as GET; the record kept in ``scope["state"]`` (see
:class:`~tiered.ratelimit.routes.AppliedLimit`) makes sure it is charged once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import cast

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tiered.errors.problem import PROBLEM_MEDIA_TYPE, problem_for_error
from tiered.http.header_completers import HEADER_COMPLETERS, HeaderCompleter
from tiered.http.request_id import request_id_of
from tiered.ratelimit.decision import Decision, Outcome
from tiered.ratelimit.errors import (
    QuotaExceededError,
    RateLimiterUnavailableError,
    quota_exceeded_document,
)
from tiered.ratelimit.keys import PrincipalOf, client_address_key, principal_key, storage_key
from tiered.ratelimit.limiter import DEFAULT_POLICY, RateLimiter
from tiered.ratelimit.routes import APPLIED, AppliedLimit, RoutePolicies

__all__ = ["DEFAULT_EXEMPT_PATHS", "RateLimitMiddleware"]

DEFAULT_EXEMPT_PATHS = frozenset({"/health/live", "/health/ready", "/metrics"})
_ALLOWED = Outcome.ALLOWED
_CONTENT_TYPE = (b"content-type", PROBLEM_MEDIA_TYPE.encode("latin-1"))


class RateLimitMiddleware:
    """``limiter`` decides; ``principal`` (optional) names an authenticated caller.

    ``default`` names the policies every request counts against.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        principal: PrincipalOf | None = None,
        default: Iterable[str] = (DEFAULT_POLICY,),
        exempt: Iterable[str] = DEFAULT_EXEMPT_PATHS,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.principal = principal
        self.routes = RoutePolicies(limiter, default)
        self.exempt = frozenset(exempt)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Not a coroutine function: a request it lets by costs no coroutine of its own."""
        if scope["type"] != "http" or scope["path"] in self.exempt:
            return self.app(scope, receive, send)
        return self._limit(scope, receive, send)

    async def _limit(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state")
        applied = state.get(APPLIED) if state else None
        completers: list[HeaderCompleter] | None = scope.get(HEADER_COMPLETERS)
        if applied is None or applied.request_headers is not scope["headers"]:
            principal = None if self.principal is None else self.principal(scope)
            if principal is not None and type(principal) is not str:  # skips an ABC check
                principal = await cast(Awaitable[str | None], principal)
            key = storage_key(principal_key(principal)) if principal else client_address_key(scope)
            quotas = self.routes.for_scope(scope)
            decision = self.limiter.decide_now(key, quotas) or await self.limiter.decide(
                key, quotas
            )
            applied = AppliedLimit(scope, decision, key)
            if decision.outcome is not _ALLOWED and not decision.allowed:
                await self.refuse(decision, scope, receive, send)
                return
        elif completers is not None:  # a HEAD replayed as GET: its fields are already added
            await self.app(scope, receive, send)
            return
        if completers is not None:
            completers.append(applied.complete_headers)
            await self.app(scope, receive, send)
            return
        complete = applied.complete_headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = complete(list(message.get("headers", ())))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def refuse(self, decision: Decision, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_of(scope)
        if decision.outcome is Outcome.FAILED_CLOSED:
            error = RateLimiterUnavailableError(
                "The rate limiter is unavailable.", retry_after=self.limiter.retry_after_fault
            )
            response = problem_for_error(error, instance=scope["path"], request_id=request_id)
            response.raw_headers.extend(decision.header_values())
            await response(scope, receive, send)
            return
        exceeded = QuotaExceededError(decision)
        body = orjson.dumps(
            quota_exceeded_document(exceeded, instance=scope["path"], request_id=request_id)
        )
        headers = [
            _CONTENT_TYPE,
            (b"content-length", b"%d" % len(body)),
            (b"retry-after", b"%d" % exceeded.retry_after),
            *decision.header_values(),
        ]
        await send({"type": "http.response.start", "status": exceeded.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
