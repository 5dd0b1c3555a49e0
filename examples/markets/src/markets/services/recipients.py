"""Who an email goes to, read when it is sent."""

from __future__ import annotations

from uuid import UUID

from markets.repositories.unit_of_work import MarketsUnitOfWorkPort
from tiered.repository import Filter, ReadModel

__all__ = ["Recipient", "recipient"]


class Recipient(ReadModel):
    id: UUID
    email: str
    display_name: str
    is_active: bool


async def recipient(uow: MarketsUnitOfWorkPort, user_id: UUID) -> Recipient | None:
    return await uow.users.find_one([Filter.eq("id", user_id)], into=Recipient)
