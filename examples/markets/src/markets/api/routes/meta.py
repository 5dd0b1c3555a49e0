"""``GET /api/v1``: what this service is and where its documentation lives."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from markets import __version__
from tiered.envelope import ApiResponse

router = APIRouter(prefix="/api/v1", tags=["meta"])


class ServiceInfo(BaseModel):
    name: str
    version: str
    docs: str
    problems: str


@router.get("", summary="Describe the service")
async def service_info() -> ApiResponse[ServiceInfo]:
    info = ServiceInfo(name="markets", version=__version__, docs="/docs", problems="/problems")
    return ApiResponse.of(info)
