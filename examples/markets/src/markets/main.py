"""The composition root: settings in, a ready FastAPI application out."""

from __future__ import annotations

from fastapi import FastAPI

from markets import __version__
from markets.api.routes import ROUTERS
from markets.config import Settings
from tiered.app import create_app as create_tiered_app

__all__ = ["create_app"]

DESCRIPTION = """A prediction-markets backend built only on the public API of **tiered**.

Every error is `application/problem+json` (RFC 9457); follow its `type` link
for documentation."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_tiered_app(
        settings,
        version=__version__,
        description=DESCRIPTION,
        routers=ROUTERS,
        body_limits={"/api/v1/markets/import": settings.import_max_bytes},
    )
