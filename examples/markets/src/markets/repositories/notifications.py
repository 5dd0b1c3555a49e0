"""Notifications: one repository, on SQL or in memory."""

from __future__ import annotations

from uuid import UUID

from markets.domain.notifications import DeliveryResult, Notification
from tiered.repository import Filter, Repository

__all__ = ["NotificationRepository"]


class NotificationRepository(Repository[Notification]):
    """Clients filter on ``kind``; whose notifications they are comes from the route."""

    model_class = Notification
    not_found_code = "NOTIFICATION_NOT_FOUND"
    filter_fields = frozenset({"kind"})
    sort_fields = frozenset({"created_at"})

    async def record_deliveries(
        self, notification_id: UUID, deliveries: tuple[DeliveryResult, ...]
    ) -> bool:
        """Replace the per-channel outcomes in one statement; whether the notification exists."""
        changed = await self.update_where(
            [Filter.eq("id", notification_id)], {"deliveries": deliveries}
        )
        return changed == 1
