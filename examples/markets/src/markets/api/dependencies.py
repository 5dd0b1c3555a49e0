"""Request-scoped providers: units of work, services, and who is calling.

Providers are ``async def`` although they never await: FastAPI runs a sync
dependency in its thread pool, a hop per request for nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from markets.domain.users import Actor
from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.markets import MarketService
from markets.services.positions import PositionService
from tiered.app import app_state

__all__ = ["MarketServiceDep", "PositionServiceDep", "ViewerDep"]


async def unit_of_work(request: Request) -> MarketsUnitOfWork:
    """A fresh unit of work per request; each use case opens its own transaction."""
    return MarketsUnitOfWork(app_state(request).database.sessionmaker)


UnitOfWorkDep = Annotated[MarketsUnitOfWork, Depends(unit_of_work)]


async def market_service(uow: UnitOfWorkDep) -> MarketService:
    return MarketService(uow)


async def position_service(uow: UnitOfWorkDep) -> PositionService:
    return PositionService(uow)


async def viewer() -> Actor | None:
    """Anonymous until authentication is wired in; reads treat ``None`` as the public."""
    return None


MarketServiceDep = Annotated[MarketService, Depends(market_service)]
PositionServiceDep = Annotated[PositionService, Depends(position_service)]
ViewerDep = Annotated[Actor | None, Depends(viewer)]
