"""Settings of the markets service: ``MARKETS_*`` environment variables or ``.env``."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
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
    import_batch_size: int = Field(default=500, ge=1, le=5000)
    """Rows an import writes per transaction (one multi-row INSERT each)."""
    jobs_in_process: bool = True
    """Run a job worker inside each `markets serve` process; switch it off when separate
    `markets worker` processes run the jobs."""
    jobs_queue: str = Field(default="markets-jobs", min_length=1, max_length=200)
    """Celery backend: the broker queue the servers publish jobs to and `markets worker`
    consumes."""
    jobs_broker_key_prefix: str | None = Field(default=None, min_length=1, max_length=100)
    """Celery on Redis: a prefix for every broker key, so that services (or test runs)
    sharing one Redis database never see each other's messages."""

    mail_from: str = "markets <no-reply@markets.localhost>"
    """The `From` of every email the service sends."""
    mail_dir: Path = Path("var/mail")
    """Where the console mail backend writes each email as an `.eml` file (no SMTP host)."""
    smtp_host: str | None = None
    """Send email through this SMTP server instead of writing files."""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    """The SMTP server's port."""
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    """`starttls` (port 587), `tls` (port 465) or `none` (a local relay only)."""
    smtp_username: str | None = None
    """Sign in to the SMTP server as this user (with `smtp_password`); none: no sign-in."""
    smtp_password: SecretStr | None = None
    """The SMTP user's password (never logged)."""
    smtp_timeout: float = Field(default=10.0, gt=0, le=120)
    """Seconds to connect, and for each exchange with the SMTP server."""
    mail_retry_attempts: int = Field(default=3, ge=1, le=10)
    """Attempts per send within one try of a job (the job itself retries later)."""
    mail_dedup_cooldown: timedelta = Field(default=timedelta(days=1), gt=timedelta(0))
    """How long a sent email is remembered, so that a job run again does not resend it."""

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

    @field_validator("mail_from")
    @classmethod
    def _an_address(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1]:
            raise ValueError("mail_from must hold an email address, e.g. `markets <me@host>`")
        return value
