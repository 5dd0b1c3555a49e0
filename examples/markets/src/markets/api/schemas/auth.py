"""What clients send to sign up, sign in, refresh and sign out, and the tokens they get.

Sign-up takes exactly an email, a password and a display name: a role, an id
or an active flag sent along is a 422 that creates nothing. The token endpoint
takes the OAuth2 password form (RFC 6749 §4.3), whose unknown parameters are
ignored as that RFC requires.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from markets.domain.users import EMAIL_MAX, EMAIL_PATTERN, MIN_PASSWORD_CHARS
from markets.services.auth import IssuedTokens

__all__ = [
    "DISPLAY_NAME_PATTERN",
    "PASSWORD_MAX_CHARS",
    "DisplayName",
    "Email",
    "NewPassword",
    "PasswordGrant",
    "RefreshTokenBody",
    "Registration",
    "TokenPair",
]

PASSWORD_MAX_CHARS = 128
_TEXT = r"[^\u0000-\u001f\u007f\ud800-\udfff]"
DISPLAY_NAME_PATTERN = rf"^{_TEXT}*[^\s\u0000-\u001f\u007f\ud800-\udfff]{_TEXT}*$"
_REFRESH_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{43}$"  # noqa: S105 (a format, not a secret)
_CONFIG = ConfigDict(extra="forbid", regex_engine="python-re", frozen=True)

Email = Annotated[
    str,
    Field(
        max_length=EMAIL_MAX,
        pattern=EMAIL_PATTERN,
        description="An email address; compared case-insensitively.",
        examples=["alice@example.com"],
    ),
]
NewPassword = Annotated[
    str,
    Field(
        min_length=MIN_PASSWORD_CHARS,
        max_length=PASSWORD_MAX_CHARS,
        description=f"{MIN_PASSWORD_CHARS} to {PASSWORD_MAX_CHARS} characters, not the email "
        "address, not one of the most common passwords.",
    ),
]
DisplayName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=DISPLAY_NAME_PATTERN,
        description="How others see you: 1 to 100 characters, not blank, no control characters.",
    ),
]

_TOKEN_PAIR: JsonDict = {
    "access_token": "eyJhbGciOiJIUzI1NiIsImtpZCI6Im1hcmtldHMtMSIsInR5cCI6ImF0K2p3dCJ9."
    "eyJzdWIiOiIyYzRlNmE4Yi0xZDNmLTRhNWItOGM3ZC05ZTBmMWEyYjNjNGQifQ."
    "kQ3y0m6z1mN8lJt3VfW0pX9cYb2aR5sT7uH4gE1dC6o",
    "token_type": "bearer",
    "expires_in": 900,
    "refresh_token": "Yk2mP9qL4xR7tW1zN5vB8cF3hJ6dS0gA2eU4iO7yT9w",
}


class Registration(BaseModel):
    model_config = ConfigDict(
        **_CONFIG,
        json_schema_extra={
            "examples": [
                {
                    "email": "alice@example.com",
                    "password": "tram line to the harbour",
                    "display_name": "Alice Martin",
                }
            ]
        },
    )

    email: Email
    password: NewPassword
    display_name: DisplayName


class PasswordGrant(BaseModel):
    """The OAuth2 password form; ``username`` is the account's email."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    grant_type: Literal["password"] = Field(
        default="password", description="Always `password` (RFC 6749 §4.3)."
    )
    username: str = Field(
        min_length=1, max_length=320, description="The account's email.", examples=["a@b.co"]
    )
    password: str = Field(min_length=1, max_length=1024)
    scope: str = Field(
        default="", max_length=200, description="Ignored: a token carries its user's role."
    )


class RefreshTokenBody(BaseModel):
    model_config = ConfigDict(
        **_CONFIG,
        json_schema_extra={"examples": [{"refresh_token": _TOKEN_PAIR["refresh_token"]}]},
    )

    refresh_token: str = Field(
        pattern=_REFRESH_TOKEN_PATTERN,
        description="The `refresh_token` of the last token response (43 characters).",
    )


class TokenPair(BaseModel):
    """RFC 6749 §5.1: the token response, outside the success envelope so OAuth2 clients
    (the docs' Authorize button among them) read it as they expect."""

    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [_TOKEN_PAIR]})

    access_token: str = Field(description="Send as `Authorization: Bearer <access_token>`.")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (RFC 6749 token type)
    expires_in: int = Field(ge=1, description="Seconds the access token stays valid.")
    refresh_token: str = Field(
        description="Single use: `POST /api/v1/auth/refresh` spends it for a new pair."
    )

    @classmethod
    def of(cls, tokens: IssuedTokens) -> TokenPair:
        return cls(
            access_token=tokens.access_token,
            expires_in=tokens.expires_in,
            refresh_token=tokens.refresh_token,
        )
