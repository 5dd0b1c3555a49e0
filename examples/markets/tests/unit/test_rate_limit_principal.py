"""Whom the rate limiter counts a request against: a verified token's user, else nobody."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import pytest
from starlette.types import Scope

from markets.api.dependencies import token_subject
from tiered.clock import FrozenClock
from tiered.security import TokenIssuer, TokenKey, TokenKeys, TokenVerifier
from tiered.settings import Environment

SECRET = "a-test-signing-secret-of-enough-bytes-0123456789"
OTHER_SECRET = "another-signing-secret-of-enough-bytes-987654321"

Subject = Callable[[Scope], str | None]


def keys(secret: str) -> TokenKeys:
    return TokenKeys(TokenKey.hs256(secret, kid="markets-1", environment=Environment.TEST))


def issuer(secret: str, clock: FrozenClock) -> TokenIssuer:
    return TokenIssuer(
        keys(secret),
        issuer="markets",
        audience="markets-api",
        clock=clock,
        ttl=timedelta(minutes=5),
    )


@pytest.fixture
def subject(clock: FrozenClock) -> Subject:
    verifier = TokenVerifier(keys(SECRET), issuer="markets", audience="markets-api", clock=clock)
    return token_subject(verifier)


def scope(*authorizations: str) -> Scope:
    headers = [(b"authorization", value.encode("latin-1")) for value in authorizations]
    return {"type": "http", "headers": [(b"accept", b"*/*"), *headers]}


def test_a_verified_token_names_its_user(clock: FrozenClock, subject: Subject) -> None:
    user = str(uuid4())
    token = issuer(SECRET, clock).issue(user)
    assert subject(scope(f"Bearer {token}")) == f"user:{user}"
    assert subject(scope(f"bearer   {token} ")) == f"user:{user}"


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(lambda token, forged, key: f"Bearer {forged}", id="forged signature"),
        pytest.param(lambda token, forged, key: f"Basic {token}", id="another scheme"),
        pytest.param(lambda token, forged, key: f"Bearer {key}", id="an API key"),
        pytest.param(lambda token, forged, key: "Bearer ", id="no credentials"),
        pytest.param(lambda token, forged, key: f"Bearer {token[:-4]}", id="truncated"),
    ],
)
def test_anything_unverified_counts_against_the_address(
    clock: FrozenClock, subject: Subject, authorization: Callable[[str, str, str], str]
) -> None:
    user = str(uuid4())
    token = issuer(SECRET, clock).issue(user)
    forged = issuer(OTHER_SECRET, clock).issue(user)
    header = authorization(token, forged, "tk_abcdefgh_" + "x" * 32)
    assert subject(scope(header)) is None


def test_an_expired_token_counts_against_the_address(clock: FrozenClock, subject: Subject) -> None:
    token = issuer(SECRET, clock).issue(str(uuid4()))
    clock.advance(timedelta(hours=1).total_seconds())
    assert subject(scope(f"Bearer {token}")) is None


def test_two_authorizations_or_none_count_against_the_address(
    clock: FrozenClock, subject: Subject
) -> None:
    token = issuer(SECRET, clock).issue(str(uuid4()))
    assert subject(scope(f"Bearer {token}", f"Bearer {token}")) is None
    assert subject(scope()) is None
