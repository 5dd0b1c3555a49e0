"""What clients send to change their account, create API keys and administer users.

Only the members sent change, and ``null`` is refused (no member here is
nullable). Server-owned fields (id, role and active flag on one's own account,
token version, timestamps, a key's prefix) are not members, and unknown members
are refused, so sending one is a 422 that changes nothing.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import MISSING, AwareDatetime, BaseModel, ConfigDict, Field

from markets.api.schemas.auth import DisplayName, Email, NewPassword
from markets.domain.users import Permission, Role
from markets.services.accounts import ProfileChanges
from markets.services.admin_users import UserAccessChanges

__all__ = ["ApiKeyCreate", "ProfileUpdate", "UserAccessUpdate"]

_CONFIG = ConfigDict(extra="forbid", regex_engine="python-re", frozen=True)


class ProfileUpdate(BaseModel):
    """A new email or password needs ``current_password``; a display name does not."""

    model_config = ConfigDict(
        **_CONFIG,
        json_schema_extra={
            "examples": [
                {"display_name": "Alice M."},
                {
                    "password": "a longer tram line to the sea",
                    "current_password": "tram line to the harbour",
                },
            ]
        },
    )

    display_name: DisplayName | MISSING = MISSING
    email: Email | MISSING = MISSING
    password: NewPassword | MISSING = MISSING
    current_password: (
        Annotated[str, Field(min_length=1, max_length=1024, description="Your password now.")]
        | MISSING
    ) = MISSING

    def changes(self) -> ProfileChanges:
        return ProfileChanges(
            display_name=None if self.display_name is MISSING else self.display_name,
            email=None if self.email is MISSING else self.email,
            password=None if self.password is MISSING else self.password,
            current_password=None if self.current_password is MISSING else self.current_password,
        )


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(
        **_CONFIG,
        json_schema_extra={"examples": [{"name": "nightly import", "scopes": ["read", "write"]}]},
    )

    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=100,
            pattern=r"^[^\u0000-\u001f\u007f\ud800-\udfff]+$",
            description="What the key is for, to recognise it in the list.",
        ),
    ]
    scopes: list[Permission] = Field(
        min_length=1,
        max_length=len(Permission),
        description="What the key may do; each must be a permission you hold.",
    )
    expires_at: AwareDatetime | MISSING = Field(
        default=MISSING,
        description="When the key stops working (with a time zone); never if absent.",
    )


class UserAccessUpdate(BaseModel):
    model_config = ConfigDict(
        **_CONFIG,
        json_schema_extra={"examples": [{"role": "moderator"}, {"is_active": False}]},
    )

    role: Role | MISSING = MISSING
    is_active: (
        Annotated[bool, Field(description="`false` signs the user out everywhere.")] | MISSING
    ) = MISSING

    def changes(self) -> UserAccessChanges:
        return UserAccessChanges(
            role=None if self.role is MISSING else self.role,
            is_active=None if self.is_active is MISSING else self.is_active,
        )
