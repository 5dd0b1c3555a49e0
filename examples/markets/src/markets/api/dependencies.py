"""Request-scoped providers: units of work, services, and who is calling.

Providers are ``async def`` although they never await: FastAPI runs a sync
dependency in its thread pool, a hop per request for nothing. A service's
provider builds its unit of work itself rather than depending on
:func:`unit_of_work`: FastAPI resolves each level of a dependency tree on every
request. Services get the application cache from the app state (``None`` when
it is switched off).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request
from starlette.types import Scope

from markets.api.authentication import Caller, authenticate
from markets.domain.users import Actor, Permission, Role
from markets.jobs import MarketsJobs, jobs_of, markets_jobs
from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.markets import MarketService
from markets.services.positions import PositionService
from tiered.app import app_state
from tiered.idempotency import Idempotency
from tiered.security import (
    API_KEY_TAG,
    AccessControl,
    AnyPrincipal,
    InvalidTokenError,
    TokenVerifier,
)

__all__ = [
    "ACCESS",
    "IDEMPOTENCY",
    "CallerDep",
    "JobsDep",
    "MarketServiceDep",
    "PositionServiceDep",
    "UnitOfWorkDep",
    "ViewerDep",
    "acting_as",
    "acting_with",
    "principal_of",
    "token_subject",
]


JobsDep = Annotated[MarketsJobs, Depends(markets_jobs)]


def _unit_of_work(request: Request) -> MarketsUnitOfWork:
    return MarketsUnitOfWork(app_state(request).database.sessionmaker, jobs=jobs_of(request).queue)


async def unit_of_work(request: Request) -> MarketsUnitOfWork:
    """A fresh unit of work per request; each use case opens its own transaction.

    Jobs it enqueues wake this process's worker once they commit.
    """
    return _unit_of_work(request)


UnitOfWorkDep = Annotated[MarketsUnitOfWork, Depends(unit_of_work)]


async def market_service(request: Request) -> MarketService:
    return MarketService(_unit_of_work(request), cache=app_state(request).cache)


async def position_service(request: Request) -> PositionService:
    return PositionService(_unit_of_work(request), cache=app_state(request).cache)


CallerDep = Annotated[Caller | None, Depends(authenticate)]


async def principal_of(caller: CallerDep) -> AnyPrincipal | None:
    """What the library's guards check."""
    return None if caller is None else caller.principal


ACCESS = AccessControl(principal_of)

IDEMPOTENCY = Idempotency(principal=principal_of, fail_open=True)
"""``Idempotency-Key`` for the routes that declare it: keys are scoped to the caller (a user
and each of their API keys apart) and the route; replays last 24 hours.

When the key store (Redis) is down, requests are served without idempotency (logged) rather
than refused: the service keeps taking purchases through a Redis outage, at the risk of a
retry made during the outage running twice."""

_API_KEY_START = f"{API_KEY_TAG}_"


def token_subject(verifier: TokenVerifier) -> Callable[[Scope], str | None]:
    """Whom the rate limiter counts a request against: ``user:<id>`` of a verified access
    token, else ``None`` (the client's address).

    It runs before routing, on every request, so it checks the token alone (signature,
    issuer, audience, lifetime), without the user lookup authentication makes. A forged,
    expired or ambiguous credential counts against the address: a client can neither
    spend someone else's allowance nor escape its own by inventing ids. API keys count
    against the address too, since verifying one takes a database lookup.
    """

    def subject(scope: Scope) -> str | None:
        authorization: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is not None:
                    return None
                authorization = value
        if authorization is None:
            return None
        scheme, _, token = authorization.decode("latin-1").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or token.startswith(_API_KEY_START):
            return None
        try:
            return f"user:{verifier.verify(token).sub}"
        except InvalidTokenError:
            return None

    return subject


async def viewer(caller: CallerDep) -> Actor | None:
    """The actor of a read anyone may make: ``None`` for the public."""
    return None if caller is None else caller.actor


def _actor_behind(guard: Callable[..., Awaitable[AnyPrincipal]]) -> Callable[..., Awaitable[Actor]]:
    admitted = Depends(guard)  # a default: under string annotations a local is not found

    async def actor(caller: CallerDep, _: AnyPrincipal = admitted) -> Actor:
        if caller is None:  # the guard has already answered 401
            raise AssertionError("guard admitted an anonymous caller")
        return caller.actor

    actor.__name__ = f"actor_{guard.__name__}"
    return actor


def acting_with(*permissions: Permission) -> Callable[..., Awaitable[Actor]]:
    """The actor of a caller holding every one of ``permissions`` (else 401/403)."""
    return _actor_behind(ACCESS.require_permission(*permissions))


def acting_as(*roles: Role) -> Callable[..., Awaitable[Actor]]:
    """The actor of a signed-in user holding one of ``roles`` (API keys never pass)."""
    return _actor_behind(ACCESS.require_role(*roles))


MarketServiceDep = Annotated[MarketService, Depends(market_service)]
PositionServiceDep = Annotated[PositionService, Depends(position_service)]
ViewerDep = Annotated[Actor | None, Depends(viewer)]
