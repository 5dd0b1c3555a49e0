"""Telling every holder of a resolved market: one notice each, whatever runs twice.

Resolving enqueues one *announcement* job in the resolving transaction.
The announcement walks the market's holders a page at a time and enqueues
one *notice* job per holder, keyed ``market-resolved:{market}:{user}``: the
jobs table's unique dedup key makes a second enqueue for the same holder a
no-op, so an announcement that runs again (a retry after a crash halfway
through) notifies nobody twice. The walk happens in the worker, not in the
request: a market with ten thousand holders costs the moderator one insert.

A notice stores the in-app notification once (``run_once``) and then sends
the email once (:class:`EmailDelivery`), recording each channel's
:class:`~markets.domain.notifications.DeliveryResult` on the notification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from uuid import NAMESPACE_URL, UUID, uuid5

from markets.domain.markets import MarketStatus, Outcome
from markets.domain.notifications import (
    Channel,
    DeliveryResult,
    DeliveryStatus,
    Notification,
    NotificationKind,
)
from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.email_delivery import EmailDelivery, failed_email
from markets.services.letters import Letters
from markets.services.mail import MailRejectedError
from markets.services.recipients import Recipient, recipient
from markets.services.tasks import (
    NOTIFY_MARKET_RESOLVED,
    ResolutionAnnouncement,
    ResolutionNotice,
    resolution_notice_key,
)
from tiered.clock import Clock
from tiered.jobs import JobContext, run_once
from tiered.repository import CursorPage, Filter, ReadModel, SortKey
from tiered.results import Err

__all__ = ["AnnouncementReport", "NoticeReport", "ResolutionNotices"]

_NOTIFICATIONS = uuid5(NAMESPACE_URL, "https://markets.example/notifications")
_BY_HOLDER = (SortKey("user_id"),)
_DELIVERED = DeliveryResult(Channel.IN_APP, DeliveryStatus.DELIVERED)


class _Holder(ReadModel):
    user_id: UUID


class _ResolvedMarket(ReadModel):
    id: UUID
    name: str
    status: MarketStatus
    outcome: Outcome | None


@dataclass(frozen=True, slots=True)
class AnnouncementReport:
    holders: int
    notices_enqueued: int


@dataclass(frozen=True, slots=True)
class NoticeReport:
    notification_id: UUID | None
    deliveries: tuple[DeliveryResult, ...] = ()


class ResolutionNotices:
    """The two job handlers: :meth:`announce` fans out, :meth:`notify` tells one holder."""

    def __init__(
        self,
        new_uow: Callable[[], MarketsUnitOfWork],
        delivery: EmailDelivery,
        letters: Letters,
        clock: Clock,
        *,
        page_size: int = 500,
    ) -> None:
        self.new_uow = new_uow
        self.delivery = delivery
        self.letters = letters
        self.clock = clock
        self.page_size = page_size

    async def announce(
        self, ctx: JobContext, payload: ResolutionAnnouncement
    ) -> AnnouncementReport:
        del ctx
        market_id = payload.market_id
        holders = enqueued = 0
        after: tuple[object, ...] | None = None
        last: UUID | None = None
        while True:
            page_request = CursorPage(limit=self.page_size, after=after, max_limit=self.page_size)
            async with self.new_uow() as uow:
                page = await uow.positions.find(
                    [Filter.eq("market_id", market_id)],
                    sort=_BY_HOLDER,
                    page=page_request,
                    into=_Holder,
                )
                for holder in page.items:
                    if holder.user_id == last:
                        continue
                    last = holder.user_id
                    holders += 1
                    notice = ResolutionNotice(market_id=market_id, user_id=holder.user_id)
                    queued = await uow.jobs.enqueue(
                        NOTIFY_MARKET_RESOLVED,
                        notice,
                        dedup_key=resolution_notice_key(market_id, holder.user_id),
                    )
                    enqueued += queued.created
            if page.next_after is None:
                return AnnouncementReport(holders, enqueued)
            after = page.next_after

    async def notify(self, ctx: JobContext, payload: ResolutionNotice) -> NoticeReport:
        async with self.new_uow().read_only() as uow:
            market = await uow.markets.find_one(
                [Filter.eq("id", payload.market_id)], into=_ResolvedMarket
            )
            user = await recipient(uow, payload.user_id)
        if market is None or market.outcome is None or user is None:
            return NoticeReport(None)  # the market or the account was deleted meanwhile
        notification = self._notification(ctx, market, user)
        async with self.new_uow() as uow:
            await run_once(ctx, uow, "in-app", partial(uow.notifications.create, notification))
        if not user.is_active:
            return NoticeReport(notification.id, notification.deliveries)
        email = await self._email(ctx, market, user)
        deliveries = notification.delivered(email)
        async with self.new_uow() as uow:
            await uow.notifications.record_deliveries(notification.id, deliveries)
        return NoticeReport(notification.id, deliveries)

    async def _email(
        self, ctx: JobContext, market: _ResolvedMarket, user: Recipient
    ) -> DeliveryResult:
        """The email's outcome; a failure worth retrying fails the try once it is recorded."""
        assert market.outcome is not None
        message = self.letters.market_resolved(
            to=user.email,
            display_name=user.display_name,
            market_name=market.name,
            outcome=market.outcome,
            message_key=f"{ctx.job_id}.resolved",
        )
        outcome = await self.delivery.send_once(ctx.effect_key("email"), message)
        if not isinstance(outcome, Err):
            return outcome.value
        error = outcome.error
        result = failed_email(error, final=ctx.last_try)
        if not isinstance(error, MailRejectedError):
            async with self.new_uow() as uow:
                await uow.notifications.record_deliveries(
                    _notification_id(ctx), (_DELIVERED, result)
                )
            raise error
        return result

    def _notification(
        self, ctx: JobContext, market: _ResolvedMarket, user: Recipient
    ) -> Notification:
        assert market.outcome is not None
        email = (
            DeliveryResult(Channel.EMAIL, DeliveryStatus.PENDING)
            if user.is_active
            else DeliveryResult(Channel.EMAIL, DeliveryStatus.SKIPPED, "the account is deactivated")
        )
        return Notification(
            id=_notification_id(ctx),
            user_id=user.id,
            kind=NotificationKind.MARKET_RESOLVED,
            title=f"Resolved {market.outcome.value.upper()}: {market.name}",
            body=f'The market "{market.name}" was resolved {market.outcome.value.upper()}. '
            "Your positions on it are settled.",
            market_id=market.id,
            deliveries=(_DELIVERED, email),
            created_at=self.clock.now(),
        )


def _notification_id(ctx: JobContext) -> UUID:
    """The same on every try of the job, so a retry finds the notification its first try made."""
    return uuid5(_NOTIFICATIONS, str(ctx.job_id))
