"""``/api/v1/me``: The caller's own profile and API keys."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/me", tags=["me"])
