"""``GET /api/v1/me/notifications``: what the caller has been told, and how."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from markets.api.dependencies import UnitOfWorkDep, acting_with
from markets.domain.users import Actor, Permission
from markets.repositories.notifications import NotificationRepository
from markets.services.notifications import NotificationService, NotificationView
from tiered.envelope import PageResponse
from tiered.errors import problem_responses
from tiered.http.listing import Listing, ListQuery, QueryFilter
from tiered.security import permission_problems

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/me", tags=["me"])

notification_listing = Listing(
    NotificationRepository,
    default_sort="-created_at",
    filters=[QueryFilter("kind", description="Only notifications of this kind.")],
)
NotificationQuery = Annotated[ListQuery, Depends(notification_listing.dependency())]
Reader = Annotated[Actor, Depends(acting_with(Permission.READ))]


async def notification_service(uow: UnitOfWorkDep) -> NotificationService:
    return NotificationService(uow)


NotificationServiceDep = Annotated[NotificationService, Depends(notification_service)]


@router.get(
    "/notifications",
    summary="List your notifications",
    description="What you have been told (a market you hold was resolved, say), newest "
    "first unless `sort` says otherwise. Each notification lists its `deliveries`: one "
    "per channel (`in_app`, `email`), with its status (`pending`, `delivered`, "
    "`skipped`, `failed`) and, unless delivered, why. Needs the `read` permission.\n\n"
    "Offset pages carry `total`, and `meta.next_cursor` continues the same query.",
    response_model=PageResponse[NotificationView],
    responses=problem_responses(
        *notification_listing.problems(), *permission_problems(Permission.READ)
    ),
)
async def list_notifications(
    actor: Reader, service: NotificationServiceDep, query: NotificationQuery
) -> Response:
    page = await service.of_user(actor, filters=query.filters, sort=query.sort, page=query.page)
    return PageResponse[NotificationView].respond(page.items, query.meta(page))
