"""The service's HTTP routes, in the order they are mounted."""

from fastapi import APIRouter

from markets.api.routes.admin import router as admin_router
from markets.api.routes.auth import router as auth_router
from markets.api.routes.dead_letters import router as dead_letters_router
from markets.api.routes.imports import router as imports_router
from markets.api.routes.jobs import router as jobs_router
from markets.api.routes.markets import router as markets_router
from markets.api.routes.me import router as me_router
from markets.api.routes.meta import router as meta_router
from markets.api.routes.notifications import router as notifications_router
from markets.api.routes.positions import router as positions_router

ROUTERS: tuple[APIRouter, ...] = (
    meta_router,
    auth_router,
    me_router,
    notifications_router,
    imports_router,
    markets_router,
    positions_router,
    jobs_router,
    admin_router,
    dead_letters_router,
)

__all__ = ["ROUTERS"]
