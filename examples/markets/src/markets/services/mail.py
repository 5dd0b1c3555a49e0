"""Sending email: the port services use, and the two ways a send can fail.

Backends (a directory of ``.eml`` files, SMTP) live in ``markets.mail``;
services see only :class:`Mailer`. A failure is either worth retrying (the
server is down, busy, or answered 4xx: :class:`MailUnavailableError`, a
``ConnectionError``, so the library's retry and breaker predicates count it)
or final for this message (a 5xx reply: :class:`MailRejectedError`).
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol

__all__ = ["MailRejectedError", "MailUnavailableError", "Mailer"]


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Hand ``message`` over for delivery, or raise one of this module's errors."""
        ...


class MailUnavailableError(ConnectionError):
    """The mail server could not take the message now; the same message may go later."""


class MailRejectedError(Exception):
    """The mail server refused this message for good (a 5xx reply): retrying will not help."""
