"""What the lifespan builds and request handlers read (``app.state.tiered``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from starlette.requests import Request

from tiered.cache import Cache
from tiered.db.engine import Database
from tiered.errors.hierarchy import ConfigurationError
from tiered.observability.health import HealthProbe
from tiered.settings import AppSettings

__all__ = ["AppState", "app_state"]


@dataclass(slots=True)
class AppState:
    settings: AppSettings
    database: Database
    redis: Redis | None = None
    cache: Cache | None = None
    """The application cache (``None`` when ``cache_enabled`` turns it off)."""
    probes: list[HealthProbe] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)


def app_state(request: Request) -> AppState:
    """The running app's state; a clear error when used outside the lifespan."""
    state = getattr(request.app.state, "tiered", None)
    if not isinstance(state, AppState):
        raise ConfigurationError("The application lifespan has not started.")
    return state
