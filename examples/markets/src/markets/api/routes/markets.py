"""``/api/v1/markets``: the public read side (writes arrive with authentication)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path
from starlette.requests import Request
from starlette.responses import Response

from markets.api.dependencies import MarketServiceDep, ViewerDep
from markets.domain.errors import MarketNotFoundError
from markets.repositories.markets import MarketRepository
from markets.services.read_models import EXAMPLE_MARKET_ID, MarketDetail, MarketSummary
from tiered.envelope import ApiResponse, PageResponse, json_response
from tiered.errors import problem_responses
from tiered.http.conditional import representation
from tiered.http.listing import Listing, ListQuery, QueryFilter

router = APIRouter(prefix="/api/v1/markets", tags=["markets"])

_STATUS_DESCRIPTION = """Only markets in these statuses; repeat for several
(`?status=active&status=closed`). Drafts are visible only to their creator and to
moderators: `status=draft` returns an empty page to anonymous callers."""

_LIST_DESCRIPTION = """One page of markets, newest first unless `sort` says otherwise.
Anyone may call it.

Drafts are visible only to their creator (when filtering on their own `creator_id`)
and to moderators; anyone else never sees them, so `status=draft` returns an empty
page to anonymous callers. `q` searches names and descriptions. Each market embeds
its creator.

Offset pages (no `cursor`) carry `total`. Every page but the last carries
`meta.next_cursor`: it continues the same query (same filters, search and sort) at
any depth, and is refused with a different one. A query parameter not listed here,
or a single-valued one given twice, is a 400."""

_GET_DESCRIPTION = """One market, with its description and row version. Anyone may call
it; a draft is visible only to its creator and to moderators, and anyone else gets
the same 404 as for a market that does not exist.

The response carries an `ETag`. Send it back in `If-None-Match` to get an empty 304
while the market, its creator's name included, is unchanged."""

market_listing = Listing(
    MarketRepository,
    default_sort="-created_at",
    filters=[
        QueryFilter("status", many=True, description=_STATUS_DESCRIPTION),
        QueryFilter("creator_id", description="Only markets created by this user."),
    ],
)
MarketQuery = Annotated[ListQuery, Depends(market_listing.dependency())]

_LIST_PROBLEMS = problem_responses(*market_listing.problems())


@router.get(
    "",
    summary="List markets",
    description=_LIST_DESCRIPTION,
    response_model=PageResponse[MarketSummary],
    responses=_LIST_PROBLEMS,
)
async def list_markets(
    service: MarketServiceDep, viewer: ViewerDep, query: MarketQuery
) -> Response:
    page = await service.list(
        viewer, filters=query.filters, search=query.search, sort=query.sort, page=query.page
    )
    return json_response(PageResponse[MarketSummary].of(page.items, query.meta(page)))


def market_representation(detail: MarketDetail) -> bytes:
    """The exact body of a market's read: its ETag is this body's hash.

    Write routes render the current market the same way to check ``If-Match``.
    """
    body = ApiResponse[MarketDetail](data=detail)
    return body.__pydantic_serializer__.to_json(body)


_ETAG = {
    "ETag": {
        "description": "Strong entity tag of this representation (a hash of the body).",
        "schema": {"type": "string", "examples": ['"3RlzDD4c8xBXSWwFqoTkkg"']},
    }
}


@router.get(
    "/{market_id}",
    summary="Get one market",
    description=_GET_DESCRIPTION,
    response_model=ApiResponse[MarketDetail],
    responses={
        200: {"headers": _ETAG},
        304: {"description": "Not Modified: `If-None-Match` matched the ETag.", "headers": _ETAG},
        **problem_responses(MarketNotFoundError(EXAMPLE_MARKET_ID)),
    },
)
async def get_market(
    market_id: Annotated[UUID, Path(examples=[EXAMPLE_MARKET_ID])],
    request: Request,
    service: MarketServiceDep,
    viewer: ViewerDep,
    if_none_match: Annotated[
        str | None,
        Header(
            alias="If-None-Match",
            description="ETags from earlier reads (or `*`): a 304 when one still matches.",
        ),
    ] = None,
) -> Response:
    del if_none_match  # representation() reads it from the request, as every conditional read
    detail = await service.get(viewer, market_id)
    return representation(request, market_representation(detail))
