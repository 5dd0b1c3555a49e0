"""Rotating, single-use refresh tokens in families, with reuse detection.

A login starts a *family*; each refresh spends the presented token and hands
out its successor in the same family. A token presented a second time means
two parties hold it (a thief, or a client replaying a stolen copy), and the
server cannot tell which is legitimate, so the whole family is revoked: both
must log in again. The family also bounds a session absolutely, however often
it is refreshed.

Tokens are 256 random bits, so a single SHA-256 is the right digest (nothing
to guess, nothing for a slow hash to protect) and the digest itself is the
lookup key: an attacker cannot steer a digest towards a stored one, so the
index lookup leaks nothing a constant-time compare would hide.

Storage is behind :class:`RefreshTokenStore`. Its one subtle duty is
:meth:`~RefreshTokenStore.mark_used`, an atomic compare-and-set; together with
the order :meth:`RefreshTokens.rotate` follows (store the successor, *then*
spend the presented token) it makes concurrent double use detectable and
leaves no live token behind in a revoked family.

Access tokens are not stored, so they are invalidated through a per-user
``token_version`` carried as a claim: :func:`claims_for` writes it,
:func:`check_token_version` compares it with the user's current value.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from tiered.clock import Clock
from tiered.errors import AuthenticationError
from tiered.observability.logging import get_logger
from tiered.security.tokens import InvalidTokenError

__all__ = [
    "REFRESH_FAMILY_LIFETIME",
    "REFRESH_TOKEN_TTL",
    "TOKEN_VERSION_CLAIM",
    "InMemoryRefreshTokenStore",
    "InvalidRefreshTokenError",
    "IssuedRefreshToken",
    "RefreshTokenRecord",
    "RefreshTokenStore",
    "RefreshTokens",
    "check_token_version",
    "claims_for",
    "refresh_token_digest",
]

REFRESH_TOKEN_TTL = timedelta(days=30)
"""How long an unused refresh token stays valid."""
REFRESH_FAMILY_LIFETIME = timedelta(days=90)
"""How long a login lasts, however often it is refreshed."""
TOKEN_VERSION_CLAIM = "token_version"  # noqa: S105 (a claim name, not a secret)

_TOKEN_BYTES = 32
_FAMILY_BYTES = 16
_FORMAT = re.compile(r"[A-Za-z0-9_-]{43}")
"""Unpadded base64url of 32 bytes: exactly what :class:`RefreshTokens` issues."""

_log = get_logger("tiered.security.refresh_tokens")


class InvalidRefreshTokenError(AuthenticationError):
    """A refresh token was refused; ``code`` says why only to whoever holds the whole token.

    A malformed token and an unknown one both read ``REFRESH_TOKEN_INVALID``
    with the same message, so probing tells nothing.
    """

    code = "REFRESH_TOKEN_INVALID"
    title = "Invalid Refresh Token"
    slug = "invalid-refresh-token"
    description = (
        "The refresh token is malformed, unknown, expired, revoked or was already used; "
        "`code` tells which (`REFRESH_TOKEN_INVALID`, `REFRESH_TOKEN_EXPIRED`, "
        "`REFRESH_TOKEN_REVOKED`, `REFRESH_TOKEN_REUSED`). Log in again."
    )

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def _invalid() -> InvalidRefreshTokenError:
    return InvalidRefreshTokenError("The refresh token is invalid.")


def _revoked() -> InvalidRefreshTokenError:
    return InvalidRefreshTokenError(
        "The refresh token has been revoked.", code="REFRESH_TOKEN_REVOKED"
    )


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    """What a store keeps for one token: its digest, never the token."""

    digest: str = field(repr=False)
    user_id: str
    family_id: str
    generation: int
    issued_at: datetime
    expires_at: datetime
    family_expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IssuedRefreshToken:
    """A new token: hand ``token`` to the client; the store holds only its digest."""

    token: str = field(repr=False)
    user_id: str
    family_id: str
    generation: int
    expires_at: datetime


class RefreshTokenStore(Protocol):
    """Where refresh tokens live; every method must be atomic on its own.

    ``mark_used`` is a compare-and-set: it sets ``used_at`` only when the token
    is neither used nor revoked, and returns whether it did. ``revoke_family``
    and ``revoke_user`` set ``revoked_at`` on every matching token that has
    none yet.
    """

    async def add(self, record: RefreshTokenRecord) -> None: ...

    async def find(self, digest: str) -> RefreshTokenRecord | None: ...

    async def mark_used(self, digest: str, at: datetime) -> bool: ...

    async def revoke_family(self, family_id: str, at: datetime) -> None: ...

    async def revoke_user(self, user_id: str, at: datetime) -> None: ...


def refresh_token_digest(token: str) -> str:
    """The SHA-256 of a refresh token, as 64 lowercase hex digits."""
    return hashlib.sha256(token.encode()).hexdigest()


def _well_formed(presented: object) -> bool:
    return isinstance(presented, str) and _FORMAT.fullmatch(presented) is not None


def _urlsafe(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _positive(span: timedelta, name: str) -> timedelta:
    if span <= timedelta(0):
        raise ValueError(f"{name} must be positive")
    return span


class RefreshTokens:
    """Starts, rotates and revokes refresh-token families over any store."""

    def __init__(
        self,
        store: RefreshTokenStore,
        clock: Clock,
        *,
        ttl: timedelta = REFRESH_TOKEN_TTL,
        family_lifetime: timedelta = REFRESH_FAMILY_LIFETIME,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self._store, self._clock, self._random = store, clock, random_bytes
        self._ttl = _positive(ttl, "ttl")
        self._family_lifetime = _positive(family_lifetime, "family_lifetime")

    async def start(self, user_id: str) -> IssuedRefreshToken:
        """The first token of a new family, for a user who just logged in."""
        if not user_id:
            raise ValueError("a refresh token needs a user")
        now = self._clock.now()
        family_id = _urlsafe(self._random(_FAMILY_BYTES))
        return await self._issue(user_id, family_id, 0, now, now + self._family_lifetime)

    async def rotate(self, presented: str) -> IssuedRefreshToken:
        """Spend ``presented`` and return its successor, or raise :class:`InvalidRefreshTokenError`.

        The successor is stored before the presented token is spent. Whoever
        then loses the race to spend it revokes the family, and the winner's
        successor already exists to be revoked with it: no interleaving leaves
        a live token in a revoked family.
        """
        record = await self._find(presented)
        now = self._clock.now()
        if record.revoked_at is not None:
            raise _revoked()
        if record.used_at is not None:
            raise await self._reused(record, now)
        if now >= record.expires_at:
            raise InvalidRefreshTokenError(
                "The refresh token has expired.", code="REFRESH_TOKEN_EXPIRED"
            )
        successor = await self._issue(
            record.user_id,
            record.family_id,
            record.generation + 1,
            now,
            record.family_expires_at,
        )
        if not await self._store.mark_used(record.digest, now):
            raise await self._lost_race(record, now)
        return successor

    async def logout(self, presented: str) -> bool:
        """Revoke the family ``presented`` belongs to; whether there was one.

        Any token of the family will do, spent or expired: revoking is always
        safe. An unknown token is not an error (RFC 7009), since the client
        can do nothing about it.
        """
        if not _well_formed(presented):
            return False
        record = await self._store.find(refresh_token_digest(presented))
        if record is None:
            return False
        await self._store.revoke_family(record.family_id, self._clock.now())
        return True

    async def revoke_user(self, user_id: str) -> None:
        """Revoke every family of ``user_id`` (deactivation, password change).

        Bump the user's ``token_version`` in the same transaction, so their
        access tokens stop at the next request too.
        """
        await self._store.revoke_user(user_id, self._clock.now())

    async def _find(self, presented: str) -> RefreshTokenRecord:
        if not _well_formed(presented):
            raise _invalid()
        record = await self._store.find(refresh_token_digest(presented))
        if record is None:
            raise _invalid()
        return record

    async def _lost_race(
        self, record: RefreshTokenRecord, now: datetime
    ) -> InvalidRefreshTokenError:
        """The token was spent or revoked since it was read; the family goes either way.

        A revocation that ran before this call stored its successor did not
        see that successor, so the family is revoked again to take it along.
        """
        current = await self._store.find(record.digest)
        if current is not None and current.used_at is None:
            await self._store.revoke_family(record.family_id, now)
            return _revoked()
        return await self._reused(record, now)

    async def _reused(self, record: RefreshTokenRecord, now: datetime) -> InvalidRefreshTokenError:
        await self._store.revoke_family(record.family_id, now)
        _log.warning(
            "refresh_token_reused",
            user_id=record.user_id,
            family_id=record.family_id,
            generation=record.generation,
        )
        return InvalidRefreshTokenError(
            "The refresh token was already used; every session of this login has been revoked.",
            code="REFRESH_TOKEN_REUSED",
        )

    async def _issue(
        self,
        user_id: str,
        family_id: str,
        generation: int,
        now: datetime,
        family_expires_at: datetime,
    ) -> IssuedRefreshToken:
        token = _urlsafe(self._random(_TOKEN_BYTES))
        expires_at = min(now + self._ttl, family_expires_at)
        await self._store.add(
            RefreshTokenRecord(
                digest=refresh_token_digest(token),
                user_id=user_id,
                family_id=family_id,
                generation=generation,
                issued_at=now,
                expires_at=expires_at,
                family_expires_at=family_expires_at,
            )
        )
        return IssuedRefreshToken(token, user_id, family_id, generation, expires_at)


def claims_for(user_version: int) -> dict[str, int]:
    """The claim that ties an access token to the user's current ``token_version``."""
    if isinstance(user_version, bool) or not isinstance(user_version, int):
        raise TypeError("a token version is an int")
    return {TOKEN_VERSION_CLAIM: user_version}


def check_token_version(claims_version: object, current_version: int) -> None:
    """Refuse an access token minted before the user's ``token_version`` last changed.

    The application loads the user to build the principal anyway, so this
    costs nothing extra. A token without a usable version is refused too:
    nothing proves it current.
    """
    if isinstance(claims_version, bool) or not isinstance(claims_version, int):
        raise InvalidTokenError(
            "The access token's claims are not acceptable.", code="TOKEN_CLAIMS_INVALID"
        )
    if claims_version != current_version:
        raise InvalidTokenError("The access token has been revoked.", code="TOKEN_REVOKED")


class InMemoryRefreshTokenStore:
    """A :class:`RefreshTokenStore` in a dict, for tests and examples."""

    def __init__(self) -> None:
        self._by_digest: dict[str, RefreshTokenRecord] = {}

    @property
    def records(self) -> tuple[RefreshTokenRecord, ...]:
        return tuple(self._by_digest.values())

    async def add(self, record: RefreshTokenRecord) -> None:
        if record.digest in self._by_digest:
            raise ValueError("a refresh token with this digest already exists")
        self._by_digest[record.digest] = record

    async def find(self, digest: str) -> RefreshTokenRecord | None:
        return self._by_digest.get(digest)

    async def mark_used(self, digest: str, at: datetime) -> bool:
        record = self._by_digest.get(digest)
        if record is None or record.used_at is not None or record.revoked_at is not None:
            return False
        self._by_digest[digest] = replace(record, used_at=at)
        return True

    async def revoke_family(self, family_id: str, at: datetime) -> None:
        self._revoke_where(lambda record: record.family_id == family_id, at)

    async def revoke_user(self, user_id: str, at: datetime) -> None:
        self._revoke_where(lambda record: record.user_id == user_id, at)

    def _revoke_where(self, matches: Callable[[RefreshTokenRecord], bool], at: datetime) -> None:
        for digest, record in self._by_digest.items():
            if matches(record) and record.revoked_at is None:
                self._by_digest[digest] = replace(record, revoked_at=at)
