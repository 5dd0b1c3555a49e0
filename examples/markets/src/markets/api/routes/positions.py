"""``/api/v1``: Positions on markets, and the caller's own."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["positions"])
