"""``/api/v1/markets``: the public read side (writes arrive with authentication)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from markets.api.dependencies import MarketServiceDep, ViewerDep
from markets.domain.markets import MarketStatus
from markets.services.read_models import MarketDetail, MarketSummary
from tiered.envelope import ApiResponse
from tiered.errors import problem_responses
from tiered.http.conditional import representation
from tiered.http.listing import Listing, ListQuery, QueryFilter

router = APIRouter(prefix="/api/v1/markets", tags=["markets"])

market_listing = Listing(
    sort_fields={"volume", "created_at", "name"},
    default_sort="-created_at",
    filters=[
        QueryFilter("status", MarketStatus, many=True, description="Repeat for several."),
        QueryFilter("creator_id", UUID, description="Markets created by this user."),
    ],
    search=True,
)
MarketQuery = Annotated[ListQuery, Depends(market_listing.dependency())]


@router.get(
    "",
    summary="List markets",
    response_model=ApiResponse[list[MarketSummary]],
    responses=problem_responses(400),
)
async def list_markets(
    service: MarketServiceDep, viewer: ViewerDep, query: MarketQuery
) -> ApiResponse[list[MarketSummary]]:
    page = await service.list(
        viewer, filters=query.filters, search=query.search, sort=query.sort, page=query.page
    )
    return ApiResponse.of(list(page.items), query.meta(page))


def market_representation(detail: MarketDetail) -> bytes:
    """The exact body of a market's read: its ETag is this body's hash.

    Write routes render the current market the same way to check ``If-Match``.
    """
    return ApiResponse[MarketDetail](data=detail).model_dump_json().encode()


@router.get(
    "/{market_id}",
    summary="Get one market",
    response_model=ApiResponse[MarketDetail],
    responses={
        200: {
            "headers": {"ETag": {"description": "Hash of this body", "schema": {"type": "string"}}}
        },
        304: {"description": "Not Modified (If-None-Match matched the ETag)"},
    },
)
async def get_market(
    market_id: UUID, request: Request, service: MarketServiceDep, viewer: ViewerDep
) -> Response:
    detail = await service.get(viewer, market_id)
    return representation(request, market_representation(detail))
