"""``/api/v1/me``: The caller's own profile and API keys."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from pydantic import MISSING
from starlette.requests import Request
from starlette.responses import Response

from markets.api.authentication import security_kit
from markets.api.dependencies import UnitOfWorkDep, acting_as, acting_with
from markets.api.routes.auth import PASSWORD_TOO_LONG, auth_rate_limit
from markets.api.schemas.users import ApiKeyCreate, ProfileUpdate
from markets.domain.errors import (
    ApiKeyLimitError,
    ApiKeyNotFoundError,
    CurrentPasswordError,
    EmailTakenError,
    ScopeNotHeldError,
    WeakPasswordError,
)
from markets.domain.users import Actor, Permission, Role
from markets.repositories.api_keys import ApiKeyRepository
from markets.services.accounts import (
    MAX_ACTIVE_API_KEYS,
    AccountService,
    ApiKeyView,
    NewApiKeyView,
    UserView,
)
from tiered.envelope import ApiResponse, PageResponse, json_response
from tiered.errors import FieldError, UnprocessableContentError, problem_responses
from tiered.http.listing import Listing, ListQuery
from tiered.security import permission_problems, role_problems

router = APIRouter(prefix="/api/v1/me", tags=["me"])

_EXAMPLE_KEY_ID = "5a7c9e1b-3d5f-4a2c-8e6b-0d1f3a5c7e9b"


async def account_service(request: Request, uow: UnitOfWorkDep) -> AccountService:
    kit = security_kit(request)
    return AccountService(uow, kit.password_hasher, kit.clock)


AccountServiceDep = Annotated[AccountService, Depends(account_service)]
Reader = Annotated[Actor, Depends(acting_with(Permission.READ))]
SignedInUser = Annotated[Actor, Depends(acting_as(Role.USER, Role.MODERATOR, Role.ADMIN))]
"""A person signed in with a password: API keys cannot change an account or mint keys."""

key_listing = Listing(ApiKeyRepository, default_sort="-created_at")
KeyQuery = Annotated[ListQuery, Depends(key_listing.dependency())]

_READERS = permission_problems(Permission.READ)
_USERS = role_problems(Role.USER, Role.MODERATOR, Role.ADMIN)


@router.get(
    "",
    summary="Your profile",
    description="The signed-in user's profile (or, for an API key with `read`, its owner's).",
    response_model=ApiResponse[UserView],
    responses=problem_responses(*_READERS),
)
async def read_profile(actor: Reader, service: AccountServiceDep) -> Response:
    return json_response(ApiResponse.of(await service.profile(actor)))


@router.patch(
    "",
    summary="Change your profile, email or password",
    description=(
        "Only the members sent change. A new `email` or `password` needs "
        "`current_password` (422 without it, 403 when it is wrong). A new password signs "
        "you out everywhere: every access token, refresh token and API key of the account "
        "stops working, so sign in again. Signed-in users only: an API key gets a 403."
    ),
    response_model=ApiResponse[UserView],
    responses=problem_responses(
        *_USERS,
        CurrentPasswordError(),
        EmailTakenError(),
        UnprocessableContentError(
            "Changing the email or the password needs the current password.",
            code="CURRENT_PASSWORD_REQUIRED",
            errors=[FieldError("/current_password", "Field required to change email or password")],
        ),
        WeakPasswordError("must not be the email address"),
        PASSWORD_TOO_LONG,
    ),
    dependencies=[Depends(auth_rate_limit)],
)
async def update_profile(
    body: ProfileUpdate, actor: SignedInUser, service: AccountServiceDep
) -> Response:
    return json_response(ApiResponse.of(await service.update_profile(actor, body.changes())))


@router.post(
    "/api-keys",
    status_code=201,
    summary="Create an API key",
    description=(
        "A key for machine clients, sent as `X-API-Key`. The response is the only time the "
        "key is shown: store it. Its `scopes` must be permissions you hold (403 otherwise); "
        "it acts with those scopes, narrowed to what your role allows at each request. "
        f"At most {MAX_ACTIVE_API_KEYS} unrevoked keys per account (409). Signed-in users "
        "only: an API key cannot create keys."
    ),
    response_model=ApiResponse[NewApiKeyView],
    responses=problem_responses(
        *_USERS,
        ScopeNotHeldError(["delete"]),
        ApiKeyLimitError(MAX_ACTIVE_API_KEYS),
    ),
)
async def create_api_key(
    body: ApiKeyCreate, actor: SignedInUser, service: AccountServiceDep
) -> Response:
    expires_at = None if body.expires_at is MISSING else body.expires_at
    created = await service.create_api_key(actor, body.name, tuple(body.scopes), expires_at)
    return json_response(ApiResponse.of(created), status_code=201)


@router.get(
    "/api-keys",
    summary="List your API keys",
    description=(
        "Your keys, newest first, revoked ones included: name, prefix, scopes and when each "
        "was last used. Never the key itself. Signed-in users only."
    ),
    response_model=PageResponse[ApiKeyView],
    responses=problem_responses(*_USERS, *key_listing.problems()),
)
async def list_api_keys(
    actor: SignedInUser, service: AccountServiceDep, query: KeyQuery
) -> Response:
    page = await service.api_keys(actor, sort=query.sort, page=query.page)
    return PageResponse[ApiKeyView].respond(page.items, query.meta(page))


@router.delete(
    "/api-keys/{key_id}",
    status_code=204,
    summary="Revoke an API key",
    description=(
        "The key stops working at once. Revoking a revoked key changes nothing (204); "
        "a key that is not yours is a 404, like one that does not exist."
    ),
    response_class=Response,
    responses=problem_responses(*_USERS, ApiKeyNotFoundError(_EXAMPLE_KEY_ID)),
)
async def revoke_api_key(
    key_id: Annotated[UUID, Path(examples=[_EXAMPLE_KEY_ID])],
    actor: SignedInUser,
    service: AccountServiceDep,
) -> Response:
    await service.revoke_api_key(actor, key_id)
    return Response(status_code=204)
