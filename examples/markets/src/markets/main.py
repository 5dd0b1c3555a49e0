"""The composition root: settings in, a ready FastAPI application out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from markets import __version__
from markets.api.authentication import (
    SECURITY_KIT,
    SecurityKit,
    document_authentication,
)
from markets.api.dependencies import ACCESS, IDEMPOTENCY, token_subject
from markets.api.routes import ROUTERS
from markets.config import Settings
from markets.jobs import MarketsJobs
from markets.services.auth import SessionLifetimes
from markets.services.mail import Mailer
from tiered.app import AppState, Resource
from tiered.app import create_app as create_tiered_app
from tiered.clock import Clock, SystemClock
from tiered.idempotency import idempotency_store, install_idempotency
from tiered.resilience import BreakerMetrics
from tiered.security import (
    Argon2PasswordHasher,
    HashingPool,
    PasswordHasher,
    TokenIssuer,
    TokenKey,
    TokenKeys,
    TokenVerifier,
)

__all__ = ["create_app"]

DESCRIPTION = """A prediction-markets backend built only on the public API of **tiered**.

Every error is `application/problem+json` (RFC 9457); follow its `type` link
for documentation.

Sign in with `POST /api/v1/auth/token` (the docs' **Authorize** button does it:
your email as the username), then send `Authorization: Bearer <access_token>`;
machine clients send an API key as `X-API-Key`."""


def _security_kit(settings: Settings, clock: Clock) -> SecurityKit:
    secret = settings.jwt_secret.get_secret_value()
    keys = TokenKeys(TokenKey.hs256(secret, kid="markets-1", environment=settings.environment))
    issuer, audience = settings.token_issuer, settings.token_audience
    lifetimes = SessionLifetimes(
        access=settings.access_token_ttl,
        refresh=settings.refresh_token_ttl,
        family=settings.session_lifetime,
    )
    return SecurityKit(
        clock=clock,
        issuer=TokenIssuer(
            keys, issuer=issuer, audience=audience, clock=clock, ttl=lifetimes.access
        ),
        verifier=TokenVerifier(keys, issuer=issuer, audience=audience, clock=clock),
        lifetimes=lifetimes,
    )


def _password_hashing(
    settings: Settings, kit: SecurityKit, given: PasswordHasher | None
) -> Resource:
    """Puts the kit in the app state with a hasher: the given one, or an argon2id hasher
    whose bounded pool lives exactly as long as the lifespan."""

    @asynccontextmanager
    async def run(state: AppState) -> AsyncIterator[None]:
        state.extras[SECURITY_KIT] = kit
        if given is not None:
            kit.hasher = given
            yield
            return
        pool = HashingPool(
            max_concurrency=settings.password_hash_concurrency,
            max_waiting=settings.password_hash_queue,
        )
        hasher = Argon2PasswordHasher(pool=pool)
        kit.hasher = hasher
        try:
            yield
        finally:
            kit.hasher = None
            hasher.close()

    return run


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    password_hasher: PasswordHasher | None = None,
    mailer: Mailer | None = None,
) -> FastAPI:
    """The markets app; ``clock``, ``password_hasher`` and ``mailer`` exist for tests to inject.

    A signed-in caller's requests count against their own rate-limit allowance, an
    anonymous caller's against their address. Jobs run in a worker inside the
    process unless ``jobs_in_process`` is off or ``jobs_backend`` is ``celery``
    (then ``markets worker`` processes run them).
    """
    settings = settings or Settings()
    clock = clock or SystemClock()
    kit = _security_kit(settings, clock)
    jobs = MarketsJobs(settings, clock, mailer=mailer)
    app = create_tiered_app(
        settings,
        version=__version__,
        description=DESCRIPTION,
        routers=ROUTERS,
        resources=[
            _password_hashing(settings, kit, password_hasher),
            idempotency_store(IDEMPOTENCY, clock=clock),
            jobs.resource(),
        ],
        body_limits={"/api/v1/markets/import": settings.import_max_bytes},
        rate_limit_principal=token_subject(kit.verifier),
    )
    jobs.breaker_metrics = BreakerMetrics(app.state.metrics.registry)
    install_idempotency(app)
    document_authentication(app, required=ACCESS.authenticated)
    return app
