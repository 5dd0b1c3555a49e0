"""Broken authentication (OWASP API2): forged, expired and misdirected tokens get a 401.

Tokens are built by hand here, byte by byte where a library would refuse to
build them, and sent to a real route. The first test proves the forging
harness makes tokens the app accepts, so every refusal below is the check it
names and not a harness mistake.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from examples.markets.tests.conftest import Accounts

from markets.config import Settings
from markets.repositories.unit_of_work import MarketsUnitOfWork
from tiered.clock import FrozenClock
from tiered.repository import Filter
from tiered.security import InvalidTokenError, TokenKey, TokenKeys, TokenVerifier

NewUow = Callable[[], MarketsUnitOfWork]
ME = "/api/v1/me"
SECRET = Settings(environment="test").jwt_secret.get_secret_value()
HEADER = {"alg": "HS256", "kid": "markets-1", "typ": "at+jwt"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def hs256(payload: dict[str, Any], secret: bytes, header: dict[str, Any] | None = None) -> str:
    """An HS256 JWT signed with any bytes at all (PyJWT refuses a PEM key as a secret)."""
    signing_input = f"{_segment(header or HEADER)}.{_segment(payload)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


@pytest.fixture
async def claims(accounts: Accounts, clock: FrozenClock) -> dict[str, Any]:
    """The claims the app itself would issue for a fresh user."""
    user = await accounts.register("victim@example.com")
    now = int(clock.now().timestamp())
    return {
        "sub": user["id"],
        "iss": "markets",
        "aud": "markets-api",
        "iat": now,
        "exp": now + 900,
        "jti": "forged-1",
        "token_version": 0,
    }


async def _refusal(api: httpx.AsyncClient, token: str) -> str:
    response = await api.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.headers["content-type"] == "application/problem+json"
    assert token not in response.text
    code: str = response.json()["code"]
    return code


async def test_the_harness_forges_what_the_app_accepts(
    api: httpx.AsyncClient, claims: dict[str, Any]
) -> None:
    response = await api.get(
        ME, headers={"Authorization": f"Bearer {hs256(claims, SECRET.encode())}"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["email"] == "victim@example.com"


async def test_alg_none_is_refused(api: httpx.AsyncClient, claims: dict[str, Any]) -> None:
    unsigned = f"{_segment({**HEADER, 'alg': 'none'})}.{_segment(claims)}."
    assert await _refusal(api, unsigned) == "TOKEN_INVALID"
    assert await _refusal(api, unsigned.rstrip(".")) == "TOKEN_MALFORMED"


async def test_a_wrong_signature_is_refused(api: httpx.AsyncClient, claims: dict[str, Any]) -> None:
    assert await _refusal(api, hs256(claims, b"another secret of at least 32 bytes!")) == (
        "TOKEN_INVALID"
    )
    genuine = hs256(claims, SECRET.encode())
    head, _body, signature = genuine.split(".")
    tampered = f"{head}.{_segment({**claims, 'sub': str(uuid.uuid4())})}.{signature}"
    assert await _refusal(api, tampered) == "TOKEN_INVALID"


async def test_an_expired_token_is_refused(
    api: httpx.AsyncClient, claims: dict[str, Any], clock: FrozenClock
) -> None:
    token = hs256(claims, SECRET.encode())
    clock.advance(timedelta(seconds=900 + 30))
    assert await _refusal(api, token) == "TOKEN_EXPIRED"


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "another-api"},
        {"iss": "https://evil.example"},
        {"exp": None},
        {"sub": None},
        {"iat": None},
        {"jti": None},
        {"sub": "not-a-uuid"},
        {"token_version": None},
        {"token_version": "0"},
    ],
)
async def test_wrong_or_missing_claims_are_refused(
    api: httpx.AsyncClient, claims: dict[str, Any], change: dict[str, Any]
) -> None:
    payload = {**claims, **change}
    payload = {name: value for name, value in payload.items() if value is not None}
    assert await _refusal(api, hs256(payload, SECRET.encode())) == "TOKEN_CLAIMS_INVALID"


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "HS256", "kid": "markets-2", "typ": "at+jwt"},
        {"alg": "HS256", "kid": "markets-1"},
        {"alg": "HS256", "kid": "markets-1", "typ": "JWT"},
        {"alg": "HS512", "kid": "markets-1", "typ": "at+jwt"},
    ],
)
async def test_a_header_the_key_does_not_match_is_refused(
    api: httpx.AsyncClient, claims: dict[str, Any], header: dict[str, Any]
) -> None:
    assert await _refusal(api, hs256(claims, SECRET.encode(), header)) == "TOKEN_INVALID"


def _rsa_public_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


async def test_hs256_signed_with_a_public_key_is_refused_by_the_app(
    api: httpx.AsyncClient, claims: dict[str, Any]
) -> None:
    assert await _refusal(api, hs256(claims, _rsa_public_pem())) == "TOKEN_INVALID"


def test_an_rs256_verifier_refuses_hs256_signed_with_its_public_key() -> None:
    """Algorithm confusion where it bites: the attacker knows the verifier's public key."""
    clock = FrozenClock()
    public = _rsa_public_pem()
    verifier = TokenVerifier(
        TokenKeys(TokenKey.rs256(public_key=public, kid="rs-1")),
        issuer="markets",
        audience="markets-api",
        clock=clock,
    )
    now = int(clock.now().timestamp())
    payload = {"sub": "u", "iss": "markets", "aud": "markets-api", "iat": now, "exp": now + 60}
    forged = hs256(
        {**payload, "jti": "j"}, public, {"alg": "HS256", "kid": "rs-1", "typ": "at+jwt"}
    )
    with pytest.raises(InvalidTokenError) as refused:
        verifier.verify(forged)
    assert refused.value.code == "TOKEN_INVALID"
    with pytest.raises(jwt.InvalidKeyError):
        jwt.encode(payload, public, algorithm="HS256")  # the forgery needs hand-made HMAC


async def test_a_token_of_a_deleted_user_is_refused(
    api: httpx.AsyncClient, claims: dict[str, Any], new_uow: NewUow
) -> None:
    token = hs256(claims, SECRET.encode())
    async with new_uow() as uow:
        assert await uow.users.delete_by_id(uuid.UUID(claims["sub"]))
    assert await _refusal(api, token) == "TOKEN_REVOKED"


async def test_a_token_of_an_older_version_is_refused(
    api: httpx.AsyncClient, claims: dict[str, Any], new_uow: NewUow
) -> None:
    token = hs256(claims, SECRET.encode())
    async with new_uow() as uow:
        await uow.users.update_where(
            [Filter.eq("id", uuid.UUID(claims["sub"]))], {"token_version": 1}
        )
    assert await _refusal(api, token) == "TOKEN_REVOKED"
    current = hs256({**claims, "token_version": 1}, SECRET.encode())
    response = await api.get(ME, headers={"Authorization": f"Bearer {current}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "authorization",
    ["Bearer ", "Bearer a.b", "Bearer " + "a" * 9000, "Bearer tk_short_key", "bearer x.y.z"],
)
async def test_garbage_bearer_values_are_refused(
    api: httpx.AsyncClient, authorization: str
) -> None:
    response = await api.get(ME, headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json()["code"] in {"TOKEN_MALFORMED", "API_KEY_INVALID"}


async def test_another_scheme_is_anonymous(api: httpx.AsyncClient) -> None:
    response = await api.get(ME, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert (response.status_code, response.json()["code"]) == (401, "AUTHENTICATION_REQUIRED")
    public = await api.get("/api/v1/markets", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert public.status_code == 200
