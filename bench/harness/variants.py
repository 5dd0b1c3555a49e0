"""What is measured: the variants (one application each) and the routes they serve."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "APPS",
    "BENCH",
    "MAIN_PYTHON",
    "OUT",
    "PEERS_PYTHON",
    "ROOT",
    "ROUTES",
    "VARIANTS",
    "Route",
    "Variant",
    "production_secrets",
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
)
_ALL = frozenset(route.key for route in ROUTES)


@dataclass(frozen=True, slots=True)
class Variant:
    key: str
    label: str
    in_main_env: bool
    app: str
    factory: bool
    routes: frozenset[str]

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
        return {
            "MARKETS_DATABASE_URL": database_url,
            "MARKETS_ENVIRONMENT": "production",
            "MARKETS_LOG_LEVEL": "INFO",
            **secrets_,
        }


def production_secrets() -> dict[str, str]:
    """Fresh strong signing secrets (48 characters each): production refuses weak ones."""
    return {
        "MARKETS_JWT_SECRET": secrets.token_urlsafe(36),
        "MARKETS_CURSOR_SECRET": secrets.token_urlsafe(36),
    }


VARIANTS = (
    Variant("markets", "markets (tiered)", True, "markets.main:create_app", True, _ALL),
    Variant("fastapi", "bare FastAPI", False, "bare_fastapi:create_app", True, frozenset({"live"})),
    Variant("handwritten", "FastAPI + SQLAlchemy ORM", False, "handwritten:app", False, _ALL),
    Variant(
        "litestar", "Litestar + advanced-alchemy", False, "litestar_app:create_app", True, _ALL
    ),
    Variant("floor", "bare driver + orjson", False, "floor:create_app", True, _ALL),
)


def variant(key: str) -> Variant:
    return next(item for item in VARIANTS if item.key == key)
