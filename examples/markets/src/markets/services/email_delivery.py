"""One email per job effect: a send that is not repeated when its job runs again.

A job runs at least once: its worker may die after the mail server took the
message but before the job was marked done, and the next try would send it
again. Before sending, the effect's key is marked for a cooldown with the
library's :class:`~tiered.resilience.Deduplicator` (one atomic ``SET NX``,
shared by every worker when the store is Redis); a later try that finds the
mark does not send. A failed send removes the mark, so the retry that may
succeed is not mistaken for a duplicate.

If the mark's store cannot be reached, the email is sent anyway: a rare
duplicate is better than a lost message.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta
from email.message import EmailMessage

from markets.domain.notifications import Channel, DeliveryResult, DeliveryStatus
from markets.services.mail import Mailer, MailRejectedError
from tiered.errors import CacheError
from tiered.observability import get_logger
from tiered.resilience import Deduplicator, DedupResult
from tiered.results import Err, Ok, Result

__all__ = ["EmailDelivery", "failed_email"]

_log = get_logger("markets.mail")

ALREADY_SENT = "sent by an earlier attempt"


def failed_email(error: Exception, *, final: bool) -> DeliveryResult:
    """What a user may read about a failed send: no server names, no error text."""
    if isinstance(error, MailRejectedError):
        detail = "the mail server refused the message"
    elif final:
        detail = "the mail server could not be reached; no further attempts"
    else:
        detail = "the mail server could not be reached; another attempt is scheduled"
    return DeliveryResult(Channel.EMAIL, DeliveryStatus.FAILED, detail)


class EmailDelivery:
    def __init__(self, mailer: Mailer, dedup: Deduplicator, *, cooldown: timedelta) -> None:
        self.mailer = mailer
        self.dedup = dedup
        self.cooldown = cooldown

    async def send_once(self, key: str, message: EmailMessage) -> Result[DeliveryResult, Exception]:
        """``Ok`` with the delivery (made now, or by an earlier try), or ``Err`` with why not."""
        mark = await self._mark(key)
        if mark is not None and mark.duplicate:
            return Ok(DeliveryResult(Channel.EMAIL, DeliveryStatus.DELIVERED, ALREADY_SENT))
        try:
            await self.mailer.send(message)
        except Exception as error:
            if mark is not None:
                with suppress(CacheError):
                    await self.dedup.forget(key)
            return Err(error)
        return Ok(DeliveryResult(Channel.EMAIL, DeliveryStatus.DELIVERED))

    async def _mark(self, key: str) -> DedupResult | None:
        try:
            return await self.dedup.check(key, self.cooldown)
        except CacheError:
            _log.warning("email_dedup_unavailable", key=key)
            return None
