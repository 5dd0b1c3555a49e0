"""``/api/v1/admin``: User administration."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from starlette.requests import Request
from starlette.responses import Response

from markets.api.authentication import security_kit
from markets.api.dependencies import UnitOfWorkDep, acting_with
from markets.api.schemas.users import UserAccessUpdate
from markets.domain.errors import OwnAccessChangeError, UserNotFoundError
from markets.domain.users import Actor, Permission
from markets.repositories.users import UserRepository
from markets.services.accounts import UserView
from markets.services.admin_users import AdminUserService
from tiered.envelope import ApiResponse, PageResponse, json_response
from tiered.errors import problem_responses
from tiered.http.listing import Listing, ListQuery
from tiered.security import permission_problems

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

_EXAMPLE_USER_ID = "2c4e6a8b-1d3f-4a5b-8c7d-9e0f1a2b3c4d"


async def admin_user_service(request: Request, uow: UnitOfWorkDep) -> AdminUserService:
    return AdminUserService(uow, security_kit(request).clock)


AdminUserServiceDep = Annotated[AdminUserService, Depends(admin_user_service)]
Administrator = Annotated[Actor, Depends(acting_with(Permission.ADMIN))]

user_listing = Listing(UserRepository, default_sort="created_at")
UserQuery = Annotated[ListQuery, Depends(user_listing.dependency())]

_GUARDED = permission_problems(Permission.ADMIN)


@router.get(
    "/users",
    summary="List users",
    description=(
        "One page of users, oldest first unless `sort` says otherwise; filter by `email`, "
        "`role` or `is_active`, search emails and display names with `q`. Needs the `admin` "
        "permission."
    ),
    response_model=PageResponse[UserView],
    responses=problem_responses(*_GUARDED, *user_listing.problems()),
)
async def list_users(
    admin: Administrator, service: AdminUserServiceDep, query: UserQuery
) -> Response:
    del admin
    page = await service.list(
        filters=query.filters, search=query.search, sort=query.sort, page=query.page
    )
    return PageResponse[UserView].respond(page.items, query.meta(page))


@router.patch(
    "/users/{user_id}",
    summary="Change a user's role or active flag",
    description=(
        "Only the members sent change. Deactivating a user stops every token and API key "
        "of theirs at their next request (reactivating brings the keys back; they sign in "
        "again); a new role applies at their next request. You cannot change your own role "
        "or deactivate yourself (409). Needs the `admin` permission."
    ),
    response_model=ApiResponse[UserView],
    responses=problem_responses(
        *_GUARDED, UserNotFoundError(_EXAMPLE_USER_ID), OwnAccessChangeError()
    ),
)
async def update_user(
    user_id: Annotated[UUID, Path(examples=[_EXAMPLE_USER_ID])],
    body: UserAccessUpdate,
    admin: Administrator,
    service: AdminUserServiceDep,
) -> Response:
    view = await service.update(admin, user_id, body.changes())
    return json_response(ApiResponse.of(view))
