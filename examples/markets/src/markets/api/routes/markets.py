"""``/api/v1/markets``: anyone reads; signed-in callers create, edit, delete and resolve.

Routes translate HTTP to service calls and back, nothing more: who may touch
which market is the service's rule, and every write answers with the same
representation (and ETag) a read of the market would.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path
from pydantic import WithJsonSchema
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response

from markets.api.dependencies import (
    IDEMPOTENCY,
    MarketServiceDep,
    ViewerDep,
    acting_as,
    acting_with,
)
from markets.api.schemas.markets import MarketCreate, MarketPatch, MarketReplace, MarketResolution
from markets.domain.errors import InvalidTransitionError, MarketNotFoundError
from markets.domain.users import Actor, Permission, Role
from markets.repositories.markets import MarketRepository
from markets.services.markets import MarketService
from markets.services.read_models import EXAMPLE_MARKET_ID, MarketDetail, MarketSummary
from tiered.envelope import ApiResponse, PageResponse
from tiered.errors import (
    AppError,
    InvalidInputError,
    PreconditionFailedError,
    StaleVersionError,
    problem_responses,
)
from tiered.http.conditional import (
    etag_of,
    if_none_match_documented,
    representation,
    require_if_match,
)
from tiered.http.listing import Listing, ListQuery, QueryFilter
from tiered.security import permission_problems, role_problems

router = APIRouter(prefix="/api/v1/markets", tags=["markets"])


class MarketSegment(Convertor[str]):
    """The ``{market_id}`` segment of ``/markets/{market_id}``: any text but ``import``.

    ``/markets/import`` is a resource of its own (``POST``, the CSV import); without
    this, every path under ``/markets/`` would also match the market routes, and a
    405 there would list their methods as allowed. Anything else still reaches the
    market routes, so a malformed id stays the documented 422.
    """

    regex = "(?!import(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("market", MarketSegment())
ONE_MARKET = "/{market_id:market}"

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
    return PageResponse[MarketSummary].respond(page.items, query.meta(page))


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
    ONE_MARKET,
    summary="Get one market",
    description=_GET_DESCRIPTION,
    response_model=ApiResponse[MarketDetail],
    responses={
        200: {"headers": _ETAG},
        304: {"description": "Not Modified: `If-None-Match` matched the ETag.", "headers": _ETAG},
        **problem_responses(MarketNotFoundError(EXAMPLE_MARKET_ID)),
    },
    openapi_extra=if_none_match_documented(
        "ETags from earlier reads (or `*`): a 304 when one still matches."
    ),
)
async def get_market(
    market_id: Annotated[UUID, Path(examples=[EXAMPLE_MARKET_ID])],
    request: Request,
    service: MarketServiceDep,
    viewer: ViewerDep,
) -> Response:
    detail = await service.get(viewer, market_id)
    return representation(request, market_representation(detail))


# -- writes ------------------------------------------------------------------------------


def _if_match_refusals() -> tuple[AppError, ...]:
    """The 400 and 412s of a conditional write, produced by the code that raises them."""
    found: list[AppError] = []
    for header, current in (("not-quoted", None), ('"stale"', '"3RlzDD4c8xBXSWwFqoTkkg"')):
        try:
            require_if_match(header, current)
        except (InvalidInputError, PreconditionFailedError) as error:
            found.append(error)
    found.append(
        PreconditionFailedError(
            "The market changed since you read it (If-Match does not match its ETag).",
            details={"current_version": 4},
        )
    )
    return tuple(found)


Writer = Annotated[Actor, Depends(acting_with(Permission.WRITE))]
Deleter = Annotated[Actor, Depends(acting_with(Permission.DELETE))]
Moderator = Annotated[Actor, Depends(acting_as(Role.MODERATOR, Role.ADMIN))]
MarketId = Annotated[UUID, Path(examples=[EXAMPLE_MARKET_ID])]
OptionalKey = Annotated[str | None, IDEMPOTENCY.key(required=False)]
"""Declared after the guard: a caller is refused before anything is replayed to them."""

_IF_MATCH_PATTERN = r'^[ \t]*(?:\*|(?:W/)?"[!#-~]*"(?:[ \t]*,[ \t]*(?:W/)?"[!#-~]*")*)[ \t]*$'
IfMatch = Annotated[
    str | None,
    WithJsonSchema({"type": "string", "pattern": _IF_MATCH_PATTERN}),
    Header(
        alias="If-Match",
        description="The `ETag` of the market as you last read it (or `*`): the write "
        "happens only if the market is still exactly that, else a 412. Optional: "
        "without it the write is unconditional.",
    ),
]

_LOCATION = {
    "Location": {
        "description": "The URL of the new market.",
        "schema": {"type": "string", "examples": [f"/api/v1/markets/{EXAMPLE_MARKET_ID}"]},
    }
}
_NOT_FOUND = MarketNotFoundError(EXAMPLE_MARKET_ID)
_EDIT_PROBLEMS = problem_responses(
    *_if_match_refusals(),
    *permission_problems(Permission.WRITE),
    _NOT_FOUND,
    InvalidTransitionError("active", "draft"),
    StaleVersionError.of("Market"),
)


def _written(detail: MarketDetail, *, created: bool = False) -> Response:
    """The market as its read sends it, with the ETag a later read would carry."""
    content = market_representation(detail)
    headers = {"ETag": etag_of(content)}
    if created:
        headers["Location"] = f"{router.prefix}/{detail.id}"
    return Response(
        content, status_code=201 if created else 200, media_type="application/json", headers=headers
    )


async def _version_matching(
    service: MarketService, actor: Actor, market_id: UUID, if_match: str | None
) -> int | None:
    """The version the client's ``If-Match`` describes (412 if none), or ``None`` without one."""
    if if_match is None:
        return None
    current = await service.editable(actor, market_id)
    require_if_match(if_match, etag_of(market_representation(current)))
    return current.version


_CREATE_DESCRIPTION = """Create a market; you are its creator. Needs the `write` permission.

It starts as a `draft` (visible only to you and to moderators) or `active` (open to
buyers). The id, volume, outcome, version and timestamps are the server's: sending
any of them is a 422. The answer is the market as `GET` returns it, with its `ETag`
and its URL in `Location`.

Send an `Idempotency-Key` to make a retry safe: the same key and body get the first
answer again instead of a second market."""

_EDIT_DESCRIPTION = """Only the market's creator or a moderator may edit it; for anyone
else it does not exist (404), even when they can read it. Statuses move draft → active →
closed only (409 otherwise); resolving has its own route. Server-owned fields are a 422.

Send the `ETag` of your last read in `If-Match` so that the edit cannot overwrite a
change you have not seen: a 412 when the market changed since, a 409 when another write
lands while this one runs. The answer carries the new `ETag`."""


@router.post(
    "",
    status_code=201,
    summary="Create a market",
    description=_CREATE_DESCRIPTION,
    response_model=ApiResponse[MarketDetail],
    responses={
        201: {"headers": {**_ETAG, **_LOCATION}},
        **problem_responses(
            400, *permission_problems(Permission.WRITE), *IDEMPOTENCY.problems(required=False)
        ),
    },
)
async def create_market(
    body: MarketCreate, service: MarketServiceDep, actor: Writer, key: OptionalKey
) -> Response:
    del key
    return _written(await service.create(actor, body.draft()), created=True)


@router.put(
    ONE_MARKET,
    summary="Replace a market",
    description=f"Set every field you own (name, description, status).\n\n{_EDIT_DESCRIPTION}",
    response_model=ApiResponse[MarketDetail],
    responses={200: {"headers": _ETAG}, **_EDIT_PROBLEMS},
)
async def replace_market(
    market_id: MarketId,
    body: MarketReplace,
    service: MarketServiceDep,
    actor: Writer,
    if_match: IfMatch = None,
) -> Response:
    expected = await _version_matching(service, actor, market_id, if_match)
    return _written(await service.replace(actor, market_id, body.draft(), expected))


@router.patch(
    ONE_MARKET,
    summary="Edit a market",
    description=f"Change only the members sent; `null` is refused.\n\n{_EDIT_DESCRIPTION}",
    response_model=ApiResponse[MarketDetail],
    responses={200: {"headers": _ETAG}, **_EDIT_PROBLEMS},
)
async def edit_market(
    market_id: MarketId,
    body: MarketPatch,
    service: MarketServiceDep,
    actor: Writer,
    if_match: IfMatch = None,
) -> Response:
    expected = await _version_matching(service, actor, market_id, if_match)
    return _written(await service.update(actor, market_id, body.changes(), expected))


@router.delete(
    ONE_MARKET,
    status_code=204,
    summary="Delete a market",
    description="Delete a market and its positions. Needs the `delete` permission "
    "(moderators); a market you cannot see is a 404.",
    response_class=Response,
    responses=problem_responses(
        *permission_problems(Permission.DELETE), _NOT_FOUND, StaleVersionError.of("Market")
    ),
)
async def delete_market(market_id: MarketId, service: MarketServiceDep, actor: Deleter) -> Response:
    await service.delete(actor, market_id)
    return Response(status_code=204)


@router.post(
    "/{market_id}/resolve",
    summary="Resolve a market",
    description="Settle an active or closed market with its outcome (409 for any other "
    "status, a resolved one included). Moderators and admins only, signed in (API keys "
    "never resolve). The answer is the resolved market with its new `ETag`.",
    response_model=ApiResponse[MarketDetail],
    responses={
        200: {"headers": _ETAG},
        **problem_responses(
            400,
            *role_problems(Role.MODERATOR, Role.ADMIN),
            _NOT_FOUND,
            InvalidTransitionError("draft", "resolved"),
            StaleVersionError.of("Market"),
        ),
    },
)
async def resolve_market(
    market_id: MarketId, body: MarketResolution, service: MarketServiceDep, actor: Moderator
) -> Response:
    return _written(await service.resolve(actor, market_id, body.resolved_as()))
