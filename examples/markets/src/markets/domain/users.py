"""Users and the roles they hold."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from markets.domain.clock import utc_now

__all__ = ["Actor", "Role", "User", "normalize_email"]


class Role(StrEnum):
    USER = "user"
    MODERATOR = "moderator"
    ADMIN = "admin"

    @property
    def moderates(self) -> bool:
        return self in (Role.MODERATOR, Role.ADMIN)


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
    created_at: datetime = field(default_factory=utc_now)
    updated_at: datetime = field(default_factory=utc_now)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs a use case; ``None`` where the caller is anonymous."""

    user_id: UUID
    role: Role

    @property
    def moderates(self) -> bool:
        return self.role.moderates
