"""What is measured: the variants (one application each) and the routes they serve.

markets is measured as deployed by default (limiter and cache on, in memory)
and in three variations, each apart from it only in what one comparison needs,
so that a ratio between two of them is the cost of one thing: the cache off;
the limiter off; the limiter on Redis (with the cache off, so that every Redis
command is the limiter's).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "APPS",
    "BENCH",
    "BENCH_QUOTA",
    "MAIN_PYTHON",
    "OUT",
    "PEERS_PYTHON",
    "RATE_LIMIT_KEYS",
    "REDIS_DB",
    "ROOT",
    "ROUTES",
    "VARIANTS",
    "Route",
    "Variant",
    "production_secrets",
    "redis_url",
    "route",
    "variant",
]

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
OUT = BENCH / "out"
APPS = BENCH / "peers" / "apps"
MAIN_PYTHON = ROOT / ".venv" / "bin" / "python"
PEERS_PYTHON = BENCH / "peers" / ".venv" / "bin" / "python"


@dataclass(frozen=True, slots=True)
class Route:
    key: str
    label: str
    path: str
    query: str
    uses_database: bool

    def target(self, market_id: str) -> tuple[str, str]:
        """Path and query string, with the market to read filled in."""
        return self.path.format(market_id=market_id), self.query

    def url(self, market_id: str) -> str:
        path, query = self.target(market_id)
        return f"{path}?{query}" if query else path


ROUTES = (
    Route("list", "GET /api/v1/markets?limit=50", "/api/v1/markets", "limit=50", True),
    Route("get", "GET /api/v1/markets/{id}", "/api/v1/markets/{market_id}", "", True),
    Route("live", "GET /health/live (trivial)", "/health/live", "", False),
    Route("meta", "GET /api/v1 (trivial, rate-limited)", "/api/v1", "", False),
)
"""``/health/live`` is exempt from rate limiting (an orchestrator polls it), so the
limiter's cost is measured on ``/api/v1``, markets' own trivial route, which is not."""
_PEERS = frozenset({"list", "get", "live"})

BENCH_QUOTA = "1000000/minute"
"""markets' default quota in every variant: the production default (100 a minute per
client) would refuse all but the first hundred of the benchmark's requests, which all
come from one address. A decision costs the same whatever the numbers."""
RATE_LIMIT_KEYS = "markets:ratelimit:*"
"""The keys markets' limiter writes in Redis (``<app_name>:ratelimit:``)."""
REDIS_DB = 14
"""The bench's own Redis database: the test suites use 15."""


def route(key: str) -> Route:
    return next(item for item in ROUTES if item.key == key)


def redis_url() -> str:
    """``BENCH_REDIS_URL``, else the test suites' Redis server with the bench's database."""
    explicit = os.environ.get("BENCH_REDIS_URL")
    if explicit:
        return explicit
    tests = urlsplit(os.environ.get("TIERED_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    return urlunsplit(tests._replace(path=f"/{REDIS_DB}"))


@dataclass(frozen=True, slots=True)
class Variant:
    key: str
    label: str
    in_main_env: bool
    app: str
    factory: bool
    routes: frozenset[str]
    settings: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    """markets settings (without the ``MARKETS_`` prefix) that differ from production's."""
    redis: bool = False
    """Points markets at the bench's Redis (``MARKETS_REDIS_URL``)."""
    over_http: bool = True
    """Measured over HTTP by ``make bench`` too (the smoke serves every variant)."""

    @property
    def rate_limited(self) -> bool:
        return self.in_main_env and self.settings.get("RATE_LIMIT_ENABLED") != "false"

    @property
    def cached(self) -> bool:
        return self.in_main_env and self.settings.get("CACHE_ENABLED") != "false"

    @property
    def python(self) -> Path:
        return MAIN_PYTHON if self.in_main_env else PEERS_PYTHON

    @property
    def app_dir(self) -> Path:
        return ROOT if self.in_main_env else APPS

    def environ(self, database_url: str, secrets_: dict[str, str]) -> dict[str, str]:
        """Variables that configure this variant (added to a clean copy of the environment)."""
        if not self.in_main_env:
            return {"BENCH_DATABASE_URL": database_url}
        environ = {
            "MARKETS_DATABASE_URL": database_url,
            "MARKETS_ENVIRONMENT": "production",
            "MARKETS_LOG_LEVEL": "INFO",
            "MARKETS_RATE_LIMIT_DEFAULT": BENCH_QUOTA,
            **{f"MARKETS_{name}": value for name, value in self.settings.items()},
            **secrets_,
        }
        if self.redis:
            environ["MARKETS_REDIS_URL"] = redis_url()
        return environ


def production_secrets() -> dict[str, str]:
    """Fresh strong signing secrets (48 characters each): production refuses weak ones."""
    return {
        "MARKETS_JWT_SECRET": secrets.token_urlsafe(36),
        "MARKETS_CURSOR_SECRET": secrets.token_urlsafe(36),
    }


_MARKETS = "markets.main:create_app"
VARIANTS = (
    Variant("markets", "markets (tiered)", True, _MARKETS, True, _PEERS | {"meta"}),
    Variant(
        "markets-nocache",
        "markets, cache off",
        True,
        _MARKETS,
        True,
        frozenset({"get"}),
        settings={"CACHE_ENABLED": "false"},
        over_http=False,
    ),
    Variant(
        "markets-nolimit",
        "markets, rate limiting off",
        True,
        _MARKETS,
        True,
        frozenset({"meta", "list"}),
        settings={"RATE_LIMIT_ENABLED": "false"},
        over_http=False,
    ),
    Variant(
        "markets-redis",
        "markets, rate limits on Redis",
        True,
        _MARKETS,
        True,
        frozenset({"meta", "list"}),
        settings={"CACHE_ENABLED": "false"},
        redis=True,
        over_http=False,
    ),
    Variant("fastapi", "bare FastAPI", False, "bare_fastapi:create_app", True, frozenset({"live"})),
    Variant("handwritten", "FastAPI + SQLAlchemy ORM", False, "handwritten:app", False, _PEERS),
    Variant(
        "litestar", "Litestar + advanced-alchemy", False, "litestar_app:create_app", True, _PEERS
    ),
    Variant("floor", "bare driver + orjson", False, "floor:create_app", True, _PEERS),
)


def variant(key: str) -> Variant:
    return next(item for item in VARIANTS if item.key == key)
