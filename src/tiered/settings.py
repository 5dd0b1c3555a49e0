"""Settings every tiered application shares.

Applications subclass :class:`AppSettings` and give it their own environment
prefix (``MARKETS_`` for the reference service). Validation happens when the
settings are built, and configuration fails closed: ``environment`` defaults to
``production``, where a weak or published signing secret stops the process
instead of letting it start insecure. Only ``dev`` (``make serve``) and
``test`` (the test suite) run on the published development secrets.
"""

from __future__ import annotations

from enum import StrEnum
from ipaddress import ip_network
from typing import Annotated, Any, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tiered.errors import ConfigurationError
from tiered.ratelimit.rates import parse_rates

__all__ = [
    "DEV_CURSOR_SECRET",
    "DEV_JWT_SECRET",
    "MIN_JWT_SECRET_BYTES",
    "MIN_SECRET_BYTES",
    "AppSettings",
    "CacheBackendKind",
    "Environment",
    "JobsBackendKind",
    "secret_weakness",
]

MIN_SECRET_BYTES = 32
MIN_JWT_SECRET_BYTES = MIN_SECRET_BYTES
DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-do-not-use-in-production"  # noqa: S105
DEV_CURSOR_SECRET = "dev-only-insecure-cursor-secret-do-not-use-in-production"  # noqa: S105
_KNOWN_WEAK_SECRETS = frozenset(
    {
        DEV_JWT_SECRET,
        DEV_CURSOR_SECRET,
        "secret",
        "changeme",
        "change-me",
        "your-secret-key",
        "jwt-secret",
    }
)
_SIGNING_SECRETS = ("jwt_secret", "cursor_secret")
_GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


class Environment(StrEnum):
    """Where the process runs; anything deployed (staging included) is ``production``."""

    DEV = "dev"
    TEST = "test"
    """The automated test suite, never a deployed environment."""
    PRODUCTION = "production"

    @property
    def accepts_dev_secrets(self) -> bool:
        return self is not Environment.PRODUCTION


class CacheBackendKind(StrEnum):
    """Where the application's cache keeps its entries."""

    AUTO = "auto"
    """Two-level when ``redis_url`` is set, else memory."""
    MEMORY = "memory"
    REDIS = "redis"
    TWO_LEVEL = "two-level"


_REDIS_CACHES = frozenset({CacheBackendKind.REDIS, CacheBackendKind.TWO_LEVEL})


class JobsBackendKind(StrEnum):
    """Where background jobs run."""

    INPROCESS = "inprocess"
    """A worker inside the application process, reading the jobs table."""
    CELERY = "celery"
    """Celery workers, fed through a broker by the jobs relay."""


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
    """Names the service in the lifecycle log lines."""
    environment: Environment = Environment.PRODUCTION
    """`dev`, `test` or `production`; `production` refuses weak or published signing secrets,
    and anything deployed (staging included) is `production`."""
    log_level: str = "INFO"
    """Lowest level logged: `DEBUG`, `INFO`, `WARNING`, `ERROR`."""
    log_json: bool | None = Field(
        default=None, description="JSON log lines; default: console in dev, JSON elsewhere."
    )
    gc_freeze: bool = True
    """Once started, keep what startup made out of the garbage collector's full passes
    (`gc.freeze`), which would otherwise walk the whole app every few seconds under load."""
    opentelemetry: bool = False
    """FastAPI's native OpenTelemetry spans, metrics and logs, sent to the providers you
    configure; off, FastAPI skips the check for them that every request would pay."""

    database_url: str = "sqlite+aiosqlite:///var/app.db"
    """SQLite (`sqlite+aiosqlite:///…`) or PostgreSQL (`postgresql+asyncpg://…`)."""
    database_echo: bool = False
    """Log every SQL statement (SQLAlchemy's `echo`)."""
    database_pool_size: int = Field(default=5, ge=1)
    """Connections the pool keeps open; on a SQLite file, the most it opens (each has a thread,
    and more add no capacity to one writer): further requests wait for one."""
    database_max_overflow: int = Field(default=10, ge=0)
    """Connections a server database opens beyond the pool under load."""
    database_pool_timeout: float = Field(default=10.0, gt=0)
    """Seconds to wait for a free pooled connection."""
    database_pool_recycle: int = Field(default=1800, ge=-1)
    """Seconds after which a pooled connection is replaced (-1: never)."""
    database_connect_timeout: float = Field(default=5.0, gt=0)
    """Seconds to wait when opening a database connection."""
    database_ping_idle_after: float = Field(default=10.0, ge=0)
    """Seconds a pooled server connection may sit idle before it is pinged on reuse (0: on
    every reuse); one the server has closed is replaced without a ping."""

    redis_url: str | None = None
    """Redis is used, and probed, only when set."""
    redis_timeout: float = Field(default=1.0, gt=0)
    """Seconds to connect to Redis and for each command."""

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    """Signs access tokens; in `production` at least 32 bytes, not a published default, at
    least 8 distinct characters."""
    cursor_secret: SecretStr = Field(
        default=SecretStr(DEV_CURSOR_SECRET),
        description="Signs pagination cursors; a key of its own, not the JWT secret.",
    )

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Origins allowed by CORS, comma-separated or a JSON list; when empty, no CORS headers."""
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Addresses or networks whose `X-Forwarded-For` is believed."""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    """Largest request body in bytes; a larger one gets a 413 problem."""
    health_check_timeout: float = Field(default=2.0, gt=0)
    """Seconds each `/health/ready` probe may take."""
    statement_repeat_threshold: int = Field(
        default=5,
        ge=0,
        description="N+1 guard: times one SQL statement may repeat in a request (0 = off).",
    )

    rate_limit_enabled: bool | None = Field(
        default=None,
        description="Rate limiting; default: on, except in `test` (tests that need it turn it on).",
    )
    rate_limit_default: str = "100/minute"
    """Every request's quota per client, e.g. `100/minute` or `10/second;1000/hour`."""
    rate_limit_auth: str = "10/minute"
    """The stricter quota of the routes that declare the `auth` policy (login, registration)."""
    rate_limit_fail_open: bool = True
    """When the limiter's Redis is unreachable: serve unlimited (`true`, logged and counted) or
    refuse with a 503 (`false`)."""
    rate_limit_memory_keys: int = Field(default=100_000, ge=1)
    """Clients (times quotas) the in-process limiter remembers when there is no Redis; past it
    the least recently seen are forgotten."""

    cache_enabled: bool | None = Field(
        default=None,
        description="The application cache; default: on, except in `test`, whose tests write "
        "data behind the application's back (those that test caching turn it on).",
    )
    cache_backend: CacheBackendKind = CacheBackendKind.AUTO
    """`auto` (two-level when `redis_url` is set, else memory), `memory` (each process its own),
    `redis` (shared) or `two-level` (each process's memory in front of Redis, kept in step
    through Redis pub/sub)."""
    cache_ttl: float = Field(default=300.0, gt=0)
    """Seconds a cache entry lives unless its reader says otherwise; bounds how stale an entry
    can get when an invalidation is lost."""
    cache_local_ttl: float = Field(default=10.0, gt=0)
    """Two-level only: seconds a process keeps its own copy of an entry at most, whatever
    pub/sub says."""
    cache_max_local_keys: int = Field(default=10_000, ge=1)
    """Entries a process holds in memory (the memory backend, or the two-level local layer);
    past it the least recently used go first."""
    cache_namespace: str | None = Field(default=None, min_length=1, pattern=r"^[^:]+$")
    """Prefix of the cache's Redis keys and pub/sub channel (no `:`); default
    `<app_name>-cache`."""

    jobs_concurrency: int = Field(default=4, ge=1)
    """Jobs the in-process worker runs at once."""
    jobs_lease_seconds: float = Field(default=60.0, gt=0)
    """Seconds a worker holds a job without renewing its lease; a job whose worker died runs
    again once this much time has passed (running jobs renew every third of it)."""
    jobs_poll_interval: float = Field(default=2.0, gt=0)
    """Seconds an idle worker waits before looking for due jobs again (a commit in the same
    process wakes it at once)."""
    jobs_shutdown_grace: float = Field(default=10.0, ge=0)
    """Seconds a stopping worker lets running jobs finish; jobs still running then are given
    back to the queue, their try not spent."""
    jobs_backend: JobsBackendKind = JobsBackendKind.INPROCESS
    """Who runs the jobs: `inprocess` (a worker inside the application takes them from the
    jobs table) or `celery` (a relay publishes them to `jobs_broker_url`; Celery workers run
    them)."""
    jobs_broker_url: str | None = None
    """Celery backend: the broker, Redis (`redis://…`) or RabbitMQ (`amqp://…`); default
    `redis_url`."""
    jobs_broker_visibility_timeout: float = Field(default=3600.0, gt=0)
    """Celery on Redis: seconds a delivered job may stay unacknowledged before Redis delivers it
    again (the relay republishes a killed worker's job once its lease expires, sooner)."""
    jobs_broker_max_countdown: float = Field(default=600.0, ge=0)
    """Celery: a job due later than this many seconds is not published at enqueue; the relay
    publishes it when it is due (brokers redeliver or drop messages held back for long)."""
    jobs_relay_interval: float = Field(default=1.0, gt=0)
    """Celery: seconds between the relay's looks for committed jobs that are due and
    unpublished."""
    jobs_relay_redispatch_after: float = Field(default=3600.0, gt=0)
    """Celery: seconds a published job may stay due and unclaimed before the relay publishes it
    again (a message the broker lost)."""

    outbound_connect_timeout: float = Field(default=3.0, gt=0)
    """Seconds an outbound HTTP request may take to resolve and connect to another service."""
    outbound_read_timeout: float = Field(default=10.0, gt=0)
    """Seconds an outbound HTTP request may wait for each read or write."""
    outbound_max_response_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    """Largest outbound HTTP response body (decoded) in bytes; a larger one is abandoned (502)."""
    outbound_max_redirects: int = Field(default=5, ge=0)
    """Redirects an outbound HTTP request follows (same host only)."""
    outbound_allowed_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Networks outbound HTTP may reach although they are not public (loopback, private,
    link-local…), e.g. `10.20.0.0/16` for an internal service; comma-separated or a JSON list."""
    outbound_retry_attempts: int = Field(default=3, ge=1)
    """Attempts of an outbound HTTP request that is safe to repeat (1 = no retry)."""
    breaker_failure_rate: float = Field(default=0.5, gt=0, le=1)
    """Share of failed calls in the window that opens a circuit breaker."""
    breaker_minimum_calls: int = Field(default=10, ge=1)
    """Calls a circuit breaker must see in its window before it may open."""
    breaker_window: float = Field(default=60.0, gt=0)
    """Seconds of calls a circuit breaker's failure rate is computed over."""
    breaker_recovery_time: float = Field(default=30.0, gt=0)
    """Seconds an open circuit breaker waits before letting one probe call through."""

    _split_lists = field_validator("cors_origins", "trusted_proxies", mode="before")(_split_csv)

    @field_validator("rate_limit_default", "rate_limit_auth")
    @classmethod
    def _valid_rates(cls, value: str) -> str:
        parse_rates(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ip_network(entry, strict=False)
        return value

    _split_outbound_networks = field_validator("outbound_allowed_networks", mode="before")(
        _split_csv
    )

    @field_validator("outbound_allowed_networks")
    @classmethod
    def _valid_outbound_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ip_network(entry, strict=False)
        return value

    @model_validator(mode="after")
    def _redis_for_a_redis_cache(self) -> Self:
        if self.cache_backend in _REDIS_CACHES and not self.redis_url:
            raise ConfigurationError(
                f"{self._env_name('cache_backend')}={self.cache_backend.value} needs "
                f"{self._env_name('redis_url')}; set it, or choose `auto` or `memory`."
            )
        return self

    @model_validator(mode="after")
    def _refuse_weak_secrets_in_production(self) -> Self:
        if self.environment.accepts_dev_secrets:
            return self
        problems: dict[str, str] = {}
        for name in _SIGNING_SECRETS:
            weakness = secret_weakness(getattr(self, name).get_secret_value())
            if weakness is not None:
                problems[name] = f"{name} is {weakness}"
        if not problems and self.jwt_secret == self.cursor_secret:
            problems["cursor_secret"] = "cursor_secret equals jwt_secret"  # noqa: S105
        if problems:
            raise ConfigurationError(self._refusal(problems))
        return self

    def _env_name(self, field: str) -> str:
        return f"{self.model_config.get('env_prefix', '')}{field}".upper()

    def _refusal(self, problems: dict[str, str]) -> str:
        """A message that says how to fix it, since it is what an operator reads first."""
        why = "is" if "environment" in self.model_fields_set else "defaults to"
        names = " and ".join(self._env_name(name) for name in problems)
        each = " each" if len(problems) > 1 else ""
        return (
            f"Refusing to start: environment {why} production and "
            f"{', '.join(problems.values())}. Set {names} to a random value of at least "
            f"{MIN_SECRET_BYTES} bytes{each} (e.g. `{_GENERATE}`), or, for local development "
            f"only, set {self._env_name('environment')}=dev to use the published dev secrets."
        )

    @property
    def is_dev(self) -> bool:
        return self.environment is Environment.DEV

    @property
    def logs_as_json(self) -> bool:
        return self.log_json if self.log_json is not None else not self.is_dev

    @property
    def cache_on(self) -> bool:
        if self.cache_enabled is not None:
            return self.cache_enabled
        return self.environment is not Environment.TEST

    @property
    def cache_kind(self) -> CacheBackendKind:
        """The backend ``cache_backend`` stands for, ``auto`` resolved."""
        if self.cache_backend is not CacheBackendKind.AUTO:
            return self.cache_backend
        return CacheBackendKind.TWO_LEVEL if self.redis_url else CacheBackendKind.MEMORY

    @property
    def cache_redis_namespace(self) -> str:
        return self.cache_namespace or f"{self.app_name.replace(':', '-')}-cache"

    @property
    def rate_limits_on(self) -> bool:
        if self.rate_limit_enabled is not None:
            return self.rate_limit_enabled
        return self.environment is not Environment.TEST


def secret_weakness(secret: str) -> str | None:
    """Why ``secret`` is unfit to sign tokens or cursors, or ``None`` when it is fine."""
    if secret.strip().lower() in _KNOWN_WEAK_SECRETS:
        return "a published default"
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"shorter than {MIN_SECRET_BYTES} bytes"
    if len(set(secret)) < 8:
        return "too repetitive"
    return None
