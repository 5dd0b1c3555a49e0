"""Per-route policies: ``dependencies=[rate_limit("auth")]`` on a route or a router.

The dependency is first of all a declaration. The rate-limit middleware reads
the routes once, finds which ones declare a policy, and checks a request to
such a route against the default policy *and* the route's in one backend call
(one ``EVALSHA`` on Redis), before the route runs; its headers then describe
both, once. By the time the dependency itself runs, the policy has been
applied and it does nothing.

It still works where the middleware did not see the route (one added after
the first request, or an app without the middleware but with a limiter in
``app.state.rate_limiter``): then it checks its own policies, merges its
headers with the middleware's, refuses with the same 429, and has the routes
read again for the next request.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import Depends
from fastapi.routing import iter_route_contexts
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from tiered.errors.hierarchy import ConfigurationError
from tiered.http.header_completers import Header
from tiered.ratelimit.decision import Decision, Outcome, QuotaSet
from tiered.ratelimit.errors import QuotaExceededError, RateLimiterUnavailableError
from tiered.ratelimit.keys import client_address_key
from tiered.ratelimit.limiter import DEFAULT_POLICY, RateLimiter

__all__ = [
    "APPLIED",
    "AppliedLimit",
    "RateLimitDependency",
    "RoutePolicies",
    "applied_limit",
    "declared_policies",
    "rate_limit",
]

_FIELD_NAMES = (b"ratelimit", b"ratelimit-policy")
APPLIED = "tiered.rate_limit"
"""Scope (and ``scope["state"]``) key of the :class:`AppliedLimit` of the request."""
_MISSING = object()


class AppliedLimit:
    """What the middleware decided for a request, kept in the request's scope.

    The route's dependency finds it there. A HEAD request's record is also
    kept in ``scope["state"]``, the one thing the request context's HEAD-as-GET
    replay shares with the request it replays. The state dict may outlive the
    request (some servers and test transports hand every request the same
    one), so that copy names its request by the identity of the header list
    the middleware received, which the replay shares and no other request has.
    """

    __slots__ = ("decision", "key", "request_headers", "route_decision")

    def __init__(self, scope: Scope, decision: Decision, key: str) -> None:
        self.request_headers: object = scope["headers"]
        self.decision = decision
        self.key = key
        self.route_decision: Decision | None = None
        """A decision the route's dependency made itself; its headers are merged."""
        scope[APPLIED] = self
        if scope["method"] == "HEAD":
            scope.setdefault("state", {})[APPLIED] = self

    def complete_headers(self, headers: list[Header]) -> list[Header]:
        """The response's headers with the ``RateLimit-Policy`` and ``RateLimit`` fields.

        When the route's dependency decided too, one set of fields describes
        both decisions, in place of any the response already has.
        """
        route = self.route_decision
        if route is None:
            return [*headers, *self.decision.header_values()]
        decision = self.decision
        kept = [item for item in headers if item[0].lower() not in _FIELD_NAMES]
        policy = b", ".join((decision.quotas.policy_header, route.quotas.policy_header))
        kept.append((b"ratelimit-policy", policy))
        states = (*decision.states, *route.states)
        if states:
            tightest = Decision(Outcome.ALLOWED, decision.quotas, states).tightest
            if tightest is not None:
                kept.append((b"ratelimit", tightest.rate_limit_item()))
        return kept


def applied_limit(scope: Scope) -> AppliedLimit | None:
    """The middleware's record for this request (or the request it replays), if any."""
    record = scope.get(APPLIED)
    if isinstance(record, AppliedLimit):
        return record
    state = scope.get("state")
    record = state.get(APPLIED) if isinstance(state, dict) else None
    if isinstance(record, AppliedLimit) and record.request_headers is scope["headers"]:
        return record
    return None


class RateLimitDependency:
    """The callable behind :func:`rate_limit`; ``policies`` are policy names."""

    def __init__(self, policies: Iterable[str]) -> None:
        self.policies = tuple(dict.fromkeys(policies))
        self.names = frozenset(self.policies)
        if not self.policies:
            raise ValueError("rate_limit() needs at least one policy name")

    def __repr__(self) -> str:
        return f"rate_limit({', '.join(map(repr, self.policies))})"

    async def __call__(self, request: Request, response: Response) -> None:
        applied = applied_limit(request.scope)
        if applied is not None and self.names <= applied.decision.quotas.policies:
            return
        limiter = getattr(request.app.state, "rate_limiter", _MISSING)
        if limiter is None:
            return  # rate limiting is switched off
        if not isinstance(limiter, RateLimiter):
            raise ConfigurationError(
                f"{self!r} needs a RateLimiter in app.state.rate_limiter (install_rate_limiting)"
            )
        key = applied.key if applied is not None else client_address_key(request.scope)
        decision = await limiter.decide(key, limiter.quota_set(self.policies))
        if applied is not None:
            applied.route_decision = decision
            limiter.routes_changed()
        else:
            for name, value in decision.header_values():
                response.headers[name.decode("latin-1")] = value.decode("latin-1")
        if decision.outcome is Outcome.LIMITED:
            raise QuotaExceededError(decision)
        if decision.outcome is Outcome.FAILED_CLOSED:
            raise RateLimiterUnavailableError(
                "The rate limiter is unavailable.", retry_after=limiter.retry_after_fault
            )


def rate_limit(*policies: str) -> Any:
    """``dependencies=[rate_limit("auth")]``: the route also counts against ``auth``.

    A policy's quota is shared by every route that names it (login and
    registration both spend the one ``auth`` allowance); name another policy
    for a separate quota.
    """
    return Depends(RateLimitDependency(policies))


def _dependencies(dependant: Any) -> Iterator[RateLimitDependency]:
    stack = [dependant]
    while stack:
        current = stack.pop()
        if isinstance(current.call, RateLimitDependency):
            yield current.call
        stack.extend(current.dependencies)


def _declarations(routes: Iterable[Any]) -> Iterator[tuple[Any, str, tuple[str, ...]]]:
    """Each route that declares policies: its route context, path template and policy names."""
    for context in iter_route_contexts(list(routes)):
        dependant = getattr(context, "dependant", None)
        template = context.path_format
        if dependant is None or not isinstance(template, str):
            continue
        names = tuple(
            dict.fromkeys(name for call in _dependencies(dependant) for name in call.policies)
        )
        if names:
            yield context, template, names


def declared_policies(routes: Iterable[Any]) -> dict[tuple[str, str], tuple[str, ...]]:
    """The policies each operation's dependencies declare, by (method, path template).

    Operations that declare none are left out.
    """
    return {
        (method, template): names
        for context, template, names in _declarations(routes)
        for method in context.methods or ()
    }


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


class RoutePolicies:
    """Which quotas a request is checked against: the default ones, plus its route's.

    Built from the app's routes on first use. Only routes that declare a
    policy are kept, each with the literal start of its path, so a request to
    any other route costs a few ``startswith`` calls. HEAD is matched as GET,
    as the request-context middleware serves it.
    """

    def __init__(self, limiter: RateLimiter, default: Iterable[str] = (DEFAULT_POLICY,)) -> None:
        self.limiter = limiter
        self.default_policies = tuple(default)
        self.default = limiter.quota_set(self.default_policies)
        self._entries: list[tuple[str, Any, QuotaSet]] | None = None
        self._prefixes: tuple[str, ...] = ()
        self._built_for: object = None
        limiter.on_routes_changed.append(self.invalidate)

    def invalidate(self) -> None:
        self._entries = None

    def for_scope(self, scope: Scope) -> QuotaSet:
        entries = self._entries
        app = scope.get("app")
        if entries is None or self._built_for is not app:
            entries = self._build(app)
        path = _route_path(scope)
        if not path.startswith(self._prefixes):  # one call rules out every entry, usually
            return self.default
        for prefix, route, quotas in entries:
            if path.startswith(prefix):
                probe = {**scope, "method": "GET"} if scope["method"] == "HEAD" else scope
                if route.matches(probe)[0] is Match.FULL:
                    return quotas
        return self.default

    def _build(self, app: object) -> list[tuple[str, Any, QuotaSet]]:
        entries = [
            (
                template.split("{", 1)[0],
                context,
                self.limiter.quota_set([*self.default_policies, *names]),
            )
            for context, template, names in _declarations(getattr(app, "routes", ()))
        ]
        self._entries = entries
        self._prefixes = tuple(prefix for prefix, _, _ in entries)
        self._built_for = app
        return entries
