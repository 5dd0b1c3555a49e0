"""``GET /api/v1``: what this service is and where its documentation lives."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from markets import __version__
from tiered.envelope import ApiResponse

router = APIRouter(prefix="/api/v1", tags=["meta"])


class ServiceInfo(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "markets", "version": "0.1.0", "docs": "/docs", "problems": "/problems"}
            ]
        }
    )

    name: str
    version: str
    docs: str
    problems: str


@router.get(
    "",
    summary="Describe the service",
    description=(
        "The service's name and version, and where its interactive documentation and its"
        " catalogue of problem types live. Anyone may call it; it reads no data."
    ),
)
async def service_info() -> ApiResponse[ServiceInfo]:
    info = ServiceInfo(name="markets", version=__version__, docs="/docs", problems="/problems")
    return ApiResponse.of(info)
