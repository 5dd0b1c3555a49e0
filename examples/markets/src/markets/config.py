"""Settings of the markets service: ``MARKETS_*`` environment variables or ``.env``."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tiered.settings import AppSettings

__all__ = ["Settings"]


class Settings(AppSettings):
    """Embedded mode by default: a SQLite file under ``var/``, nothing else to run."""

    model_config = SettingsConfigDict(
        env_prefix="MARKETS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    app_name: str = "markets"
    database_url: str = "sqlite+aiosqlite:///var/markets.db"
    import_max_bytes: int = 5 * 1024 * 1024
    """Largest CSV file, in bytes, that `POST /api/v1/markets/import` accepts."""

    access_token_ttl: timedelta = Field(
        default=timedelta(minutes=15), gt=timedelta(0), le=timedelta(days=1)
    )
    """How long an access token lives (seconds or ISO 8601, e.g. `900` or `PT15M`)."""
    refresh_token_ttl: timedelta = Field(default=timedelta(days=30), gt=timedelta(0))
    """How long an unused refresh token stays valid."""
    session_lifetime: timedelta = Field(default=timedelta(days=90), gt=timedelta(0))
    """How long a sign-in lasts however often it is refreshed; then the password is asked again."""
    token_issuer: str = Field(default="markets", min_length=1)
    """The `iss` of the access tokens this service issues and accepts."""
    token_audience: str = Field(default="markets-api", min_length=1)
    """The `aud` of the access tokens this service issues and accepts."""
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)
    """Passwords hashed at once per process (each argon2id hash holds 19 MiB while it runs)."""
    password_hash_queue: int = Field(default=32, ge=0)
    """Sign-ins waiting for a hashing slot before more are refused with a 503."""
