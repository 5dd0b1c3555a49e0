"""Signed access tokens (JWT) that are safe by construction.

Every way a JWT library can be misused is closed here rather than left to the
caller: each key pins its own algorithm, so ``alg`` in a token header can only
*select* a key, never weaken one; a key set holds either HMAC or asymmetric
keys, never both, which makes algorithm confusion (an RSA public key used as an
HMAC secret) impossible; ``alg: none`` and unknown ``kid`` are refused; and the
registered claims are required. Time comes from an injected
:class:`~tiered.clock.Clock`, not from the wall clock PyJWT would read, so
expiry is as testable as everything else.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import jwt

from tiered.clock import Clock
from tiered.errors import AuthenticationError, ConfigurationError
from tiered.security.token_keys import TokenAlgorithm, TokenKey, TokenKeys

__all__ = [
    "ACCESS_TOKEN_TTL",
    "TOKEN_LEEWAY",
    "Claims",
    "InvalidTokenError",
    "TokenAlgorithm",
    "TokenIssuer",
    "TokenKey",
    "TokenKeys",
    "TokenVerifier",
]

ACCESS_TOKEN_TTL = timedelta(minutes=15)
TOKEN_LEEWAY = timedelta(seconds=30)
"""Clock skew tolerated between the servers that issue and verify a token."""

MAX_TOKEN_CHARS = 8192
_MEDIA_TYPE = "at+jwt"
"""RFC 9068's ``typ`` for access tokens, so no other JWT can pass for one."""
_REGISTERED = frozenset({"exp", "iat", "nbf", "sub", "iss", "aud", "jti"})
_REQUIRED = ["exp", "iat", "sub", "iss", "aud", "jti"]


class InvalidTokenError(AuthenticationError):
    """A bearer token was refused; ``code`` says why, the message never says more.

    The ``WWW-Authenticate`` challenge follows RFC 6750 so that a client can tell
    "get a new token" from "send a token".
    """

    code = "TOKEN_INVALID"
    title = "Invalid Token"
    slug = "invalid-token"
    description = (
        "The bearer token is malformed, expired, not yet valid, forged or meant for "
        "another service; `code` tells which (`TOKEN_EXPIRED`, `TOKEN_INVALID`…)."
    )

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def _refuse(code: str, message: str) -> InvalidTokenError:
    return InvalidTokenError(message, code=code)


def _malformed() -> InvalidTokenError:
    return _refuse("TOKEN_MALFORMED", "The access token is malformed.")


def _forged() -> InvalidTokenError:
    return _refuse("TOKEN_INVALID", "The access token is invalid.")


def _bad_claims() -> InvalidTokenError:
    return _refuse("TOKEN_CLAIMS_INVALID", "The access token's claims are not acceptable.")


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified access token says; ``extra`` holds the non-registered claims."""

    sub: str
    jti: str
    iss: str
    aud: str | tuple[str, ...]
    exp: datetime
    iat: datetime
    nbf: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


def _new_jti() -> str:
    return secrets.token_urlsafe(16)


class TokenIssuer:
    """Mints short-lived access tokens with the current key of a :class:`TokenKeys`."""

    def __init__(
        self,
        keys: TokenKeys,
        *,
        issuer: str,
        audience: str,
        clock: Clock,
        ttl: timedelta = ACCESS_TOKEN_TTL,
        new_jti: Callable[[], str] = _new_jti,
    ) -> None:
        if not keys.current.can_sign:
            raise ConfigurationError(f"Token key {keys.current.kid!r} can only verify.")
        _positive(ttl)
        self._keys, self._issuer, self._audience = keys, issuer, audience
        self._clock, self._ttl, self._new_jti = clock, ttl, new_jti

    def issue(
        self,
        subject: str,
        *,
        claims: Mapping[str, Any] | None = None,
        ttl: timedelta | None = None,
        not_before: datetime | None = None,
    ) -> str:
        if not subject:
            raise ValueError("a token needs a subject")
        extra = dict(claims or {})
        reserved = sorted(_REGISTERED & extra.keys())
        if reserved:
            raise ValueError(f"registered claims are set by the issuer: {', '.join(reserved)}")
        lifetime = _positive(ttl if ttl is not None else self._ttl)
        now = self._clock.now()
        payload: dict[str, Any] = {
            **extra,
            "sub": subject,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": int(now.timestamp()),
            "exp": int((now + lifetime).timestamp()),
            "jti": self._new_jti(),
        }
        if not_before is not None:
            payload["nbf"] = int(not_before.timestamp())
        key = self._keys.current
        headers = {"kid": key.kid, "typ": _MEDIA_TYPE}
        return jwt.encode(payload, key._signing, algorithm=key.algorithm, headers=headers)


def _positive(ttl: timedelta) -> timedelta:
    if ttl <= timedelta(0):
        raise ValueError("a token lifetime must be positive")
    return ttl


class TokenVerifier:
    """Checks a bearer token and returns its :class:`Claims`, or raises :class:`InvalidTokenError`.

    The header only selects a key by ``kid``; the key decides the algorithm.
    Expiry is judged against the injected clock (PyJWT would read the wall
    clock), with ``leeway`` for skew between servers.
    """

    def __init__(
        self,
        keys: TokenKeys,
        *,
        issuer: str,
        audience: str,
        clock: Clock,
        leeway: timedelta = TOKEN_LEEWAY,
    ) -> None:
        if leeway < timedelta(0):
            raise ValueError("leeway cannot be negative")
        self._keys, self._issuer, self._audience = keys, issuer, audience
        self._clock, self._leeway = clock, leeway

    def verify(self, token: str) -> Claims:
        key = self._key_for(token)
        try:
            payload = jwt.decode(
                token,
                key._verifying,
                algorithms=[key.algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": _REQUIRED,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "enforce_minimum_key_length": True,
                },
            )
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError, jwt.InvalidKeyError) as exc:
            raise _forged() from exc
        except jwt.DecodeError as exc:
            raise _malformed() from exc
        except jwt.PyJWTError as exc:
            raise _bad_claims() from exc
        return self._check_times(payload)

    def _key_for(self, token: str) -> TokenKey:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise _malformed()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _malformed() from exc
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower().removeprefix("application/") != _MEDIA_TYPE:
            raise _forged()
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise _forged()
        return key

    def _check_times(self, payload: dict[str, Any]) -> Claims:
        now = self._clock.now()
        exp, iat = _numeric_date(payload["exp"]), _numeric_date(payload["iat"])
        nbf = _numeric_date(payload["nbf"]) if "nbf" in payload else None
        if now >= exp + self._leeway:
            raise _refuse("TOKEN_EXPIRED", "The access token has expired.")
        if max(iat, nbf or iat) > now + self._leeway:
            raise _refuse("TOKEN_NOT_YET_VALID", "The access token is not valid yet.")
        sub, jti, aud = payload["sub"], payload["jti"], payload["aud"]
        if not (isinstance(sub, str) and sub and isinstance(jti, str) and jti):
            raise _bad_claims()
        extra = {name: value for name, value in payload.items() if name not in _REGISTERED}
        return Claims(
            sub=sub,
            jti=jti,
            iss=payload["iss"],
            aud=aud if isinstance(aud, str) else tuple(aud),
            exp=exp,
            iat=iat,
            nbf=nbf,
            extra=MappingProxyType(extra),
        )


def _numeric_date(value: Any) -> datetime:
    """An RFC 7519 NumericDate; NaN, infinities, booleans and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad_claims()
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise _bad_claims() from exc
