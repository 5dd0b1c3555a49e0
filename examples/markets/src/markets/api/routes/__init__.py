"""The service's HTTP routes, in the order they are mounted."""

from fastapi import APIRouter

from markets.api.routes.markets import router as markets_router
from markets.api.routes.meta import router as meta_router

ROUTERS: tuple[APIRouter, ...] = (meta_router, markets_router)

__all__ = ["ROUTERS"]
