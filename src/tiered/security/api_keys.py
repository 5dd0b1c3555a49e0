"""API keys for machine clients: ``tk_<prefix>_<secret>``, shown once, stored as a digest.

The prefix is an identifier, not a secret: it is what a store indexes and what
a user sees in a list of their keys. The secret carries 256 bits of randomness,
so a single SHA-256 is the right digest (a slow password hash buys nothing
against a value nobody can guess, and would cost every request). Both parts use
the base62 alphabet, so the key contains no ``_`` of its own, parses without
ambiguity, and selects as one word on a double click.

:func:`authenticate_api_key` is storage-agnostic: it talks to an
:class:`ApiKeyStore`, compares in constant time, refuses revoked and expired
keys, and records ``last_used_at`` at most once per interval, so a busy key
does not cost a write per request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from starlette.datastructures import Headers
from starlette.requests import Request

from tiered.clock import Clock
from tiered.errors import AuthenticationError, FieldError, InvalidInputError

__all__ = [
    "API_KEY_HEADER",
    "API_KEY_TAG",
    "LAST_USED_EVERY",
    "MAX_API_KEY_CHARS",
    "ApiKeyStore",
    "InMemoryApiKeyStore",
    "InvalidApiKeyError",
    "NewApiKey",
    "ParsedApiKey",
    "StoredApiKey",
    "api_key_digest",
    "api_key_from_headers",
    "authenticate_api_key",
    "generate_api_key",
    "parse_api_key",
    "require_api_key",
    "should_record_use",
    "verify_api_key",
]

API_KEY_TAG = "tk"
API_KEY_HEADER = "X-API-Key"
LAST_USED_EVERY = timedelta(minutes=5)
"""How stale ``last_used_at`` may get before a successful use writes it again."""

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PREFIX_BYTES = 8
_SECRET_BYTES = 32
_PREFIX_CHARS = 11
"""Base62 digits that hold any 8-byte value (62**11 > 2**64)."""
_SECRET_CHARS = 43
"""Base62 digits that hold any 32-byte value (62**43 > 2**256)."""
_MAX_PREFIX_CHARS = 32
_MAX_SECRET_CHARS = 128
MAX_API_KEY_CHARS = len(API_KEY_TAG) + _MAX_PREFIX_CHARS + _MAX_SECRET_CHARS + 2
_FORMAT = re.compile(
    rf"{API_KEY_TAG}_([0-9A-Za-z]{{8,{_MAX_PREFIX_CHARS}}})"
    rf"_([0-9A-Za-z]{{{_SECRET_CHARS},{_MAX_SECRET_CHARS}}})"
)


class InvalidApiKeyError(AuthenticationError):
    """An API key was refused; ``code`` says why only once the secret has matched.

    A malformed key, an unknown prefix and a wrong secret all read
    ``API_KEY_INVALID``, so the answer never tells a guesser which prefixes
    exist. ``API_KEY_REVOKED`` and ``API_KEY_EXPIRED`` are only reported to
    whoever holds the whole key.
    """

    code = "API_KEY_INVALID"
    title = "Invalid API Key"
    slug = "invalid-api-key"
    description = (
        "The API key is malformed, unknown, revoked or expired; `code` tells which "
        "(`API_KEY_INVALID`, `API_KEY_REVOKED`, `API_KEY_EXPIRED`)."
    )

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def _invalid() -> InvalidApiKeyError:
    return InvalidApiKeyError("The API key is invalid.")


def _base62(data: bytes, width: int) -> str:
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        digits.append(_ALPHABET[rest])
    return "".join(reversed(digits))


@dataclass(frozen=True, slots=True)
class ParsedApiKey:
    prefix: str
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A freshly minted key: show ``key`` to its owner once, store ``prefix`` and ``digest``."""

    key: str = field(repr=False)
    prefix: str
    digest: str = field(repr=False)

    def stored(
        self,
        *,
        id: str,
        owner_id: str,
        scopes: frozenset[str] = frozenset(),
        expires_at: datetime | None = None,
    ) -> StoredApiKey:
        """The record a store keeps for this key (everything but the secret)."""
        return StoredApiKey(
            id=id,
            owner_id=owner_id,
            prefix=self.prefix,
            digest=self.digest,
            scopes=scopes,
            expires_at=expires_at,
        )


@dataclass(frozen=True, slots=True)
class StoredApiKey:
    id: str
    owner_id: str
    prefix: str
    digest: str = field(repr=False)
    scopes: frozenset[str] = frozenset()
    revoked_at: datetime | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None


def api_key_digest(secret: str) -> str:
    """The SHA-256 of a key's secret, as 64 lowercase hex digits."""
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_api_key(*, random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> NewApiKey:
    prefix = _base62(random_bytes(_PREFIX_BYTES), _PREFIX_CHARS)
    secret = _base62(random_bytes(_SECRET_BYTES), _SECRET_CHARS)
    key = f"{API_KEY_TAG}_{prefix}_{secret}"
    return NewApiKey(key=key, prefix=prefix, digest=api_key_digest(secret))


def parse_api_key(text: str) -> ParsedApiKey | None:
    """Split a presented key, or ``None`` when it is not exactly ``tk_<prefix>_<secret>``.

    The length is checked before the pattern, so a megabyte header costs nothing.
    """
    if not isinstance(text, str) or len(text) > MAX_API_KEY_CHARS:
        return None
    match = _FORMAT.fullmatch(text)
    if match is None:
        return None
    return ParsedApiKey(prefix=match[1], secret=match[2])


def _same_digest(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(api_key_digest(secret).encode(), stored_digest.encode())


def verify_api_key(presented: str, stored_digest: str) -> bool:
    """Whether ``presented`` is a well-formed key whose secret hashes to ``stored_digest``."""
    parsed = parse_api_key(presented)
    return parsed is not None and _same_digest(parsed.secret, stored_digest)


def should_record_use(
    last_used_at: datetime | None, now: datetime, every: timedelta = LAST_USED_EVERY
) -> bool:
    """Whether a use at ``now`` should be written, given the last one written."""
    return last_used_at is None or now - last_used_at >= every


class ApiKeyStore(Protocol):
    async def find_by_prefix(self, prefix: str) -> StoredApiKey | None: ...

    async def record_use(self, key_id: str, at: datetime) -> None: ...


async def authenticate_api_key(
    presented: str,
    store: ApiKeyStore,
    clock: Clock,
    *,
    record_every: timedelta = LAST_USED_EVERY,
) -> StoredApiKey:
    """The stored key ``presented`` belongs to, or :class:`InvalidApiKeyError`.

    The digest is computed before the lookup, so an unknown prefix and a wrong
    secret cost the same work. The returned key carries the ``last_used_at``
    that was recorded.
    """
    parsed = parse_api_key(presented)
    if parsed is None:
        raise _invalid()
    digest = api_key_digest(parsed.secret).encode()
    stored = await store.find_by_prefix(parsed.prefix)
    if stored is None or not hmac.compare_digest(digest, stored.digest.encode()):
        raise _invalid()
    now = clock.now()
    if stored.revoked_at is not None:
        raise InvalidApiKeyError("The API key has been revoked.", code="API_KEY_REVOKED")
    if stored.expires_at is not None and now >= stored.expires_at:
        raise InvalidApiKeyError("The API key has expired.", code="API_KEY_EXPIRED")
    if should_record_use(stored.last_used_at, now, record_every):
        await store.record_use(stored.id, now)
        stored = replace(stored, last_used_at=now)
    return stored


def _bearer_api_key(authorization: str) -> str | None:
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials.startswith(f"{API_KEY_TAG}_"):
        return credentials
    return None


def _ambiguous() -> InvalidInputError:
    return InvalidInputError(
        "Send one credential: an API key in X-API-Key or in Authorization, not two different ones.",
        code="AMBIGUOUS_CREDENTIALS",
        errors=[FieldError("/x-api-key", "conflicts with another credential", "header")],
    )


def api_key_from_headers(headers: Headers) -> str | None:
    """The API key a request presents, or ``None`` when it presents none.

    An ``Authorization: Bearer`` value that does not start with ``tk_`` (a JWT)
    is not an API key and is left to the token scheme. A request that carries
    two different credentials (two ``X-API-Key`` values, or an ``X-API-Key``
    beside another ``Authorization``) is refused with a 400, so no request is
    ever authenticated as two principals. The value is not validated here:
    :func:`authenticate_api_key` refuses a malformed one.
    """
    explicit = [value.strip() for value in headers.getlist(API_KEY_HEADER)]
    authorizations = headers.getlist("Authorization")
    bearer_keys = [_bearer_api_key(value) for value in authorizations]
    if not explicit and not any(bearer_keys):
        return None
    offered = {*explicit}
    for key, value in zip(bearer_keys, authorizations, strict=True):
        offered.add(key or value.strip())
    if len(offered) > 1:
        raise _ambiguous()
    return offered.pop()


async def require_api_key(request: Request) -> str:
    """FastAPI dependency: the presented API key, or a 401 when there is none."""
    presented = api_key_from_headers(request.headers)
    if not presented:
        raise AuthenticationError("An API key is required.", code="API_KEY_REQUIRED")
    return presented


class InMemoryApiKeyStore:
    """An :class:`ApiKeyStore` in a dict, for tests and examples."""

    def __init__(self, *keys: StoredApiKey) -> None:
        self._by_prefix: dict[str, StoredApiKey] = {}
        self.writes = 0
        for key in keys:
            self.add(key)

    def add(self, key: StoredApiKey) -> None:
        if key.prefix in self._by_prefix:
            raise ValueError(f"an API key with prefix {key.prefix!r} already exists")
        self._by_prefix[key.prefix] = key

    def revoke(self, key_id: str, at: datetime) -> None:
        self._update(key_id, lambda key: replace(key, revoked_at=at))

    async def find_by_prefix(self, prefix: str) -> StoredApiKey | None:
        return self._by_prefix.get(prefix)

    async def record_use(self, key_id: str, at: datetime) -> None:
        self.writes += 1
        self._update(key_id, lambda key: replace(key, last_used_at=at))

    def _update(self, key_id: str, change: Callable[[StoredApiKey], StoredApiKey]) -> None:
        for prefix, key in self._by_prefix.items():
            if key.id == key_id:
                self._by_prefix[prefix] = change(key)
                return
        raise KeyError(key_id)
