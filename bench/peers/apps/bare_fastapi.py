"""Bare FastAPI: the liveness route markets serves, with no middleware at all.

The baseline for the cost of the markets middleware stack: the same
endpoint, the same response model, the same FastAPI version.
"""

from __future__ import annotations

from typing import Literal

from fastapi import FastAPI
from pydantic import BaseModel

__all__ = ["create_app"]


class HealthReport(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Literal["ok", "unavailable"]]


def create_app() -> FastAPI:
    app = FastAPI(title="bare FastAPI")

    @app.get("/health/live")
    async def live() -> HealthReport:
        return HealthReport(status="ok", checks={})

    return app
