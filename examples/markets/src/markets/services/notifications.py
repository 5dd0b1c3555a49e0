"""The caller's notifications, newest first, each with how every channel fared."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import ConfigDict
from pydantic.config import JsonDict

from markets.domain.notifications import DeliveryResult, NotificationKind
from markets.domain.users import Actor
from markets.repositories.unit_of_work import MarketsUnitOfWorkPort
from tiered.repository import Filter, OffsetPage, Page, PageRequest, ReadModel, SortKey

__all__ = ["NotificationService", "NotificationView"]

_FIRST_PAGE = OffsetPage()
_NEWEST_FIRST = (SortKey("created_at", descending=True),)

_EXAMPLE: JsonDict = {
    "id": "6e0b5a4c-2f1d-4c3b-9a8e-7d6c5b4a3f2e",
    "kind": "market_resolved",
    "title": "Resolved YES: Will the city council approve the new tram line?",
    "body": 'The market "Will the city council approve the new tram line?" was resolved YES. '
    "Your positions on it are settled.",
    "market_id": "4b1a9c7e-2d5f-4e8a-9b3c-6f0d2e1a7c4b",
    "deliveries": [
        {"channel": "in_app", "status": "delivered", "detail": None},
        {
            "channel": "email",
            "status": "failed",
            "detail": "the mail server could not be reached; another attempt is scheduled",
        },
    ],
    "created_at": "2025-04-18T08:15:02Z",
}


class NotificationView(ReadModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    id: UUID
    kind: NotificationKind
    title: str
    body: str
    market_id: UUID | None
    deliveries: tuple[DeliveryResult, ...]
    created_at: datetime


class NotificationService:
    def __init__(self, uow: MarketsUnitOfWorkPort) -> None:
        self.uow = uow

    async def of_user(
        self,
        actor: Actor,
        *,
        filters: tuple[Filter, ...] = (),
        sort: tuple[SortKey, ...] = _NEWEST_FIRST,
        page: PageRequest = _FIRST_PAGE,
    ) -> Page[NotificationView]:
        """``actor``'s own notifications: the owner comes from the caller, never the query."""
        async with self.uow.read_only() as uow:
            return await uow.notifications.find(
                (*filters, Filter.eq("user_id", actor.user_id)),
                sort=sort,
                page=page,
                into=NotificationView,
            )
