"""``/api/v1/auth``: Sign-up, tokens and sign-out."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
