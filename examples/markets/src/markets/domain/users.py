"""Users and the roles they hold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from uuid import UUID

from markets.domain.clock import utc_now

__all__ = ["ROLE_GRANTS", "Actor", "Permission", "Role", "User", "normalize_email"]


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


def normalize_email(email: str) -> str:
    """Emails are unique case-insensitively: store them lower-cased and trimmed."""
    return email.strip().lower()


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
