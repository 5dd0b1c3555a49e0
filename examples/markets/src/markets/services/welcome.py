"""The welcome email a new account gets, sent by a job after the sign-up committed."""

from __future__ import annotations

from collections.abc import Callable

from markets.domain.notifications import Channel, DeliveryResult, DeliveryStatus
from markets.repositories.unit_of_work import MarketsUnitOfWorkPort
from markets.services.email_delivery import EmailDelivery
from markets.services.letters import Letters
from markets.services.mail import MailRejectedError
from markets.services.recipients import recipient
from markets.services.tasks import WelcomeEmail
from tiered.jobs import JobContext, PermanentJobFailure
from tiered.results import Err

__all__ = ["WelcomeSender"]


class WelcomeSender:
    """Sends the welcome email once per account (see :class:`EmailDelivery`).

    A mail server that is down fails the try, and the job is retried with
    backoff; one that refuses the message ends the job as a dead letter, for
    an administrator to look at.
    """

    def __init__(
        self,
        new_uow: Callable[[], MarketsUnitOfWorkPort],
        delivery: EmailDelivery,
        letters: Letters,
    ) -> None:
        self.new_uow = new_uow
        self.delivery = delivery
        self.letters = letters

    async def send(self, ctx: JobContext, payload: WelcomeEmail) -> DeliveryResult:
        async with self.new_uow().read_only() as uow:
            user = await recipient(uow, payload.user_id)
        if user is None or not user.is_active:
            return DeliveryResult(
                Channel.EMAIL, DeliveryStatus.SKIPPED, "the account is gone or deactivated"
            )
        message = self.letters.welcome(
            to=user.email, display_name=user.display_name, message_key=f"{ctx.job_id}.welcome"
        )
        outcome = await self.delivery.send_once(ctx.effect_key("welcome-email"), message)
        if isinstance(outcome, Err):
            if isinstance(outcome.error, MailRejectedError):
                raise PermanentJobFailure(
                    "the mail server refused the welcome email"
                ) from outcome.error
            raise outcome.error
        return outcome.value
