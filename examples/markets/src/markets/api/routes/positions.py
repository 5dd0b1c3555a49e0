"""``/api/v1``: Positions on markets, and the caller's own."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from starlette.responses import Response

from markets.api.dependencies import IDEMPOTENCY, PositionServiceDep, acting_with
from markets.api.routes.markets import MarketId
from markets.api.schemas.positions import PositionPurchase
from markets.domain.errors import MarketNotActiveError, MarketNotFoundError, PositionNotFoundError
from markets.domain.users import Actor, Permission
from markets.repositories.positions import PositionRepository
from markets.services.read_models import (
    EXAMPLE_MARKET_ID,
    EXAMPLE_POSITION_ID,
    PositionDetail,
    PositionView,
)
from tiered.envelope import ApiResponse, PageResponse, json_response
from tiered.errors import problem_responses
from tiered.http.listing import Listing, ListQuery, QueryFilter
from tiered.security import permission_problems

router = APIRouter(prefix="/api/v1", tags=["positions"])

position_listing = Listing(
    PositionRepository,
    default_sort="-created_at",
    filters=[QueryFilter("side", description="Only positions on this side.")],
)
PositionQuery = Annotated[ListQuery, Depends(position_listing.dependency())]
Reader = Annotated[Actor, Depends(acting_with(Permission.READ))]
Buyer = Annotated[Actor, Depends(acting_with(Permission.WRITE))]
PurchaseKey = Annotated[str | None, IDEMPOTENCY.key(required=True)]
PositionId = Annotated[UUID, Path(examples=[EXAMPLE_POSITION_ID])]

_MARKET_NOT_FOUND = MarketNotFoundError(EXAMPLE_MARKET_ID)
_READ_PROBLEMS = (*permission_problems(Permission.READ), _MARKET_NOT_FOUND)
_LOCATION = {
    "Location": {
        "description": "The URL of the new position.",
        "schema": {
            "type": "string",
            "examples": [f"/api/v1/markets/{EXAMPLE_MARKET_ID}/positions/{EXAMPLE_POSITION_ID}"],
        },
    }
}

_PAGES = """Newest first unless `sort` says otherwise; offset pages carry `total`, and
`meta.next_cursor` continues the same query."""


@router.get(
    "/markets/{market_id}/positions",
    summary="List a market's positions",
    description="The positions taken on one market: who holds which side, and how much. "
    "Needs the `read` permission; a market you cannot see (another user's draft, or none) "
    f"is a 404.\n\n{_PAGES}",
    response_model=PageResponse[PositionDetail],
    responses=problem_responses(*position_listing.problems(), *_READ_PROBLEMS),
)
async def list_market_positions(
    market_id: MarketId, service: PositionServiceDep, actor: Reader, query: PositionQuery
) -> Response:
    page = await service.of_market(
        actor, market_id, filters=query.filters, sort=query.sort, page=query.page
    )
    return PageResponse[PositionDetail].respond(page.items, query.meta(page))


@router.post(
    "/markets/{market_id}/positions",
    status_code=201,
    summary="Buy a position",
    description="Take a position on an active market (409 otherwise): in one transaction "
    "the position is stored and the market's volume rises by its amount, so concurrent "
    "purchases never lose one. Needs the `write` permission. Amounts are exact, refused "
    "rather than rounded: more than 4 decimal places, or not above 0, is a 422.\n\n"
    "An `Idempotency-Key` is required: a purchase whose answer was lost is retried with "
    "the same key and body, and gets the first answer instead of buying twice.",
    response_model=ApiResponse[PositionDetail],
    responses={
        201: {"headers": _LOCATION},
        **problem_responses(
            400,
            *permission_problems(Permission.WRITE),
            _MARKET_NOT_FOUND,
            MarketNotActiveError(UUID(EXAMPLE_MARKET_ID)),
            *IDEMPOTENCY.problems(required=True),
        ),
    },
)
async def buy_position(
    market_id: MarketId,
    body: PositionPurchase,
    service: PositionServiceDep,
    actor: Buyer,
    key: PurchaseKey,
) -> Response:
    del key
    position = await service.buy(actor, market_id, body.bought_side(), body.amount)
    location = f"{router.prefix}/markets/{market_id}/positions/{position.id}"
    created = ApiResponse[PositionDetail](data=PositionDetail.from_object(position))
    return json_response(created, status_code=201, headers={"Location": location})


@router.get(
    "/markets/{market_id}/positions/{position_id}",
    summary="Get one position",
    description="One position of a market, as the market's list shows it. Needs the "
    "`read` permission; a market you cannot see, or a position of another market, is a 404.",
    response_model=ApiResponse[PositionDetail],
    responses=problem_responses(*_READ_PROBLEMS, PositionNotFoundError(EXAMPLE_POSITION_ID)),
)
async def get_position(
    market_id: MarketId, position_id: PositionId, service: PositionServiceDep, actor: Reader
) -> Response:
    position = await service.get(actor, market_id, position_id)
    return json_response(ApiResponse[PositionDetail](data=position))


@router.get(
    "/me/positions",
    summary="List your positions",
    description="Your own positions, each with the market it was taken on (its name, "
    f"status and outcome). Needs the `read` permission.\n\n{_PAGES}",
    response_model=PageResponse[PositionView],
    responses=problem_responses(
        *position_listing.problems(), *permission_problems(Permission.READ)
    ),
)
async def list_my_positions(
    service: PositionServiceDep, actor: Reader, query: PositionQuery
) -> Response:
    page = await service.of_user(actor, filters=query.filters, sort=query.sort, page=query.page)
    return PageResponse[PositionView].respond(page.items, query.meta(page))
