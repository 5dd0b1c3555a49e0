"""Settings every tiered application shares.

Applications subclass :class:`AppSettings` and give it their own environment
prefix (``MARKETS_`` for the reference service). Validation happens when the
settings are built, so a production process with a weak JWT secret never
starts instead of starting insecure.
"""

from __future__ import annotations

from enum import StrEnum
from ipaddress import ip_network
from typing import Annotated, Any, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tiered.errors import ConfigurationError

__all__ = ["DEV_JWT_SECRET", "MIN_JWT_SECRET_BYTES", "AppSettings", "Environment"]

MIN_JWT_SECRET_BYTES = 32
DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-do-not-use-in-production"  # noqa: S105
_KNOWN_WEAK_SECRETS = frozenset(
    {DEV_JWT_SECRET, "secret", "changeme", "change-me", "your-secret-key", "jwt-secret"}
)


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


def _split_csv(value: Any) -> Any:
    """Accept ``a,b`` from the environment as well as JSON lists."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            import orjson

            return orjson.loads(stripped)
        return [item.strip() for item in stripped.split(",") if item.strip()]
    return value


class AppSettings(BaseSettings):
    """Process configuration, read from the environment and an optional ``.env``."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    app_name: str = "tiered-app"
    environment: Environment = Environment.DEV
    log_level: str = "INFO"
    log_json: bool | None = Field(
        default=None, description="JSON log lines; default: console in dev, JSON elsewhere."
    )

    database_url: str = "sqlite+aiosqlite:///var/app.db"
    database_echo: bool = False
    database_pool_size: int = Field(default=5, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_pool_timeout: float = Field(default=10.0, gt=0)
    database_pool_recycle: int = Field(default=1800, ge=-1)
    database_connect_timeout: float = Field(default=5.0, gt=0)

    redis_url: str | None = None
    redis_timeout: float = Field(default=1.0, gt=0)

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    health_check_timeout: float = Field(default=2.0, gt=0)
    statement_repeat_threshold: int = Field(
        default=5,
        ge=0,
        description="N+1 guard: times one SQL statement may repeat in a request (0 = off).",
    )

    _split_lists = field_validator("cors_origins", "trusted_proxies", mode="before")(_split_csv)

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ip_network(entry, strict=False)
        return value

    @model_validator(mode="after")
    def _refuse_weak_secret_outside_dev(self) -> Self:
        if self.environment is Environment.DEV:
            return self
        problem = jwt_secret_weakness(self.jwt_secret.get_secret_value())
        if problem is not None:
            raise ConfigurationError(
                f"jwt_secret is {problem}; set a random secret of at least "
                f"{MIN_JWT_SECRET_BYTES} bytes (environment={self.environment.value})"
            )
        return self

    @property
    def is_dev(self) -> bool:
        return self.environment is Environment.DEV

    @property
    def logs_as_json(self) -> bool:
        return self.log_json if self.log_json is not None else not self.is_dev


def jwt_secret_weakness(secret: str) -> str | None:
    """Why ``secret`` is unfit to sign tokens, or ``None`` when it is fine."""
    if secret.strip().lower() in _KNOWN_WEAK_SECRETS:
        return "a published default"
    if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        return f"shorter than {MIN_JWT_SECRET_BYTES} bytes"
    if len(set(secret)) < 8:
        return "too repetitive"
    return None
