"""Notifications: what a user is told, and how each channel fared in telling them.

A notification is stored once (the in-app channel) and may also go out by
email. Each channel's outcome is a :class:`DeliveryResult`, kept on the
notification, so a user (and support) can see that the email of a resolved
market bounced while the in-app notice arrived. Failure is a normal outcome
of a delivery, a value rather than an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from markets.domain.clock import utc_now

__all__ = [
    "TITLE_MAX",
    "Channel",
    "DeliveryResult",
    "DeliveryStatus",
    "Notification",
    "NotificationKind",
]

TITLE_MAX = 300


class Channel(StrEnum):
    IN_APP = "in_app"
    EMAIL = "email"


class DeliveryStatus(StrEnum):
    """``delivered``: stored (in-app) or accepted by the mail server (email)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How one channel fared; ``detail`` says why it was skipped or failed."""

    channel: Channel
    status: DeliveryStatus
    detail: str | None = None

    @property
    def success(self) -> bool:
        """Nothing left to do on this channel (delivered, or deliberately skipped)."""
        return self.status in (DeliveryStatus.DELIVERED, DeliveryStatus.SKIPPED)


class NotificationKind(StrEnum):
    MARKET_RESOLVED = "market_resolved"


@dataclass(eq=False)
class Notification:
    id: UUID
    user_id: UUID
    kind: NotificationKind
    title: str
    body: str
    market_id: UUID | None = None
    deliveries: tuple[DeliveryResult, ...] = ()
    created_at: datetime = field(default_factory=utc_now)

    def delivered(self, result: DeliveryResult) -> tuple[DeliveryResult, ...]:
        """The deliveries with ``result`` in place of its channel's previous outcome."""
        others = tuple(item for item in self.deliveries if item.channel is not result.channel)
        return tuple(sorted((*others, result), key=lambda item: list(Channel).index(item.channel)))
