"""Users, the roles they hold, and the credentials they sign in with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from uuid import UUID

from markets.domain.clock import utc_now

__all__ = [
    "COMMON_PASSWORDS",
    "EMAIL_MAX",
    "EMAIL_PATTERN",
    "MIN_PASSWORD_CHARS",
    "ROLE_GRANTS",
    "Actor",
    "ApiKey",
    "Permission",
    "RefreshToken",
    "Role",
    "User",
    "normalize_email",
    "password_weakness",
]


class Role(StrEnum):
    USER = "user"
    MODERATOR = "moderator"
    ADMIN = "admin"

    @property
    def moderates(self) -> bool:
        return self in (Role.MODERATOR, Role.ADMIN)


class Permission(StrEnum):
    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    ADMIN = "admin"


ROLE_GRANTS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.USER: frozenset({Permission.READ, Permission.WRITE}),
        Role.MODERATOR: frozenset({Permission.READ, Permission.WRITE, Permission.DELETE}),
        Role.ADMIN: frozenset(Permission),
    }
)
"""What each role may do; API keys get a subset of their owner's grants."""


EMAIL_MAX = 254
"""The longest address SMTP can deliver to (RFC 5321's path limit, less the brackets)."""
_LOCAL_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = rf"^{_LOCAL_ATOM}(?:\.{_LOCAL_ATOM})*@{_LABEL}(?:\.{_LABEL})+$"
"""Dot-atom addresses at a domain with at least two labels: what mail systems deliver to.

One expression serves as the check and as the documented schema, so a client
(or a fuzzer) that follows the schema is never refused.
"""

MIN_PASSWORD_CHARS = 12
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "abc123456789",
        "abcdefghijkl",
        "iloveyou1234",
        "letmein12345",
        "passw0rd1234",
        "password1234",
        "password123!",
        "password12345",
        "qwerty123456",
        "qwertyuiop12",
        "qwertyuiopas",
        "q1w2e3r4t5y6",
        "welcome12345",
        "zaq12wsxcde3",
        "trustno1trustno1",
        "correcthorsebatterystaple",
        "correct horse battery staple",
    }
)
"""Passwords long enough to pass the length rule that guessing lists try first."""


def normalize_email(email: str) -> str:
    """Emails are unique case-insensitively: store them lower-cased and trimmed."""
    return email.strip().lower()


def password_weakness(password: str, email: str) -> str | None:
    """Why ``password`` is unfit for the account of ``email``, or ``None`` when it will do.

    Length is counted in characters, as the schema counts it; the other rules
    compare case-insensitively, since changing the case of a listed password
    buys an attacker's guessing list nothing.
    """
    if len(password) < MIN_PASSWORD_CHARS:
        return f"must be at least {MIN_PASSWORD_CHARS} characters long"
    folded = password.casefold()
    if folded == email.strip().casefold():
        return "must not be the email address"
    if folded in COMMON_PASSWORDS:
        return "is one of the most common passwords"
    return None


@dataclass(eq=False)
class User:
    id: UUID
    email: str
    display_name: str
    role: Role = Role.USER
    is_active: bool = True
    password_hash: str | None = None
    token_version: int = 0
    """Bumped on deactivation or a password change: every token issued before stops working."""
    created_at: datetime = field(default_factory=utc_now)
    updated_at: datetime = field(default_factory=utc_now)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs a use case; ``None`` where the caller is anonymous.

    ``scopes`` is ``None`` for a signed-in user (everything the role grants) and
    the key's scopes for an API key: a moderator's key without the ``delete``
    scope acts as a plain user, so a leaked read-write key cannot moderate.
    """

    user_id: UUID
    role: Role
    scopes: frozenset[Permission] | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        granted = ROLE_GRANTS[self.role]
        return granted if self.scopes is None else granted & self.scopes

    @property
    def moderates(self) -> bool:
        return self.role.moderates and Permission.DELETE in self.permissions


@dataclass(eq=False)
class ApiKey:
    """A user's key for machine clients, as stored: its prefix and digest, never the key.

    ``scopes`` are sorted and unique; what the key may do is its scopes
    intersected with what its owner's role grants at the time of the request.
    """

    id: UUID
    user_id: UUID
    name: str
    prefix: str
    digest: str = field(repr=False)
    scopes: tuple[Permission, ...] = (Permission.READ,)
    created_at: datetime = field(default_factory=utc_now)
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(eq=False)
class RefreshToken:
    """One refresh token of a sign-in (its family), stored as its SHA-256 digest."""

    digest: str = field(repr=False)
    user_id: UUID
    family_id: str
    generation: int
    issued_at: datetime
    expires_at: datetime
    family_expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None
