"""The production mail backend: SMTP with aiosmtplib, each failure sorted.

A 5xx reply refuses this message for good (:class:`MailRejectedError`: no
retry); a 4xx reply, a refused or dropped connection, a timeout or a failed
sign-in to the server are the server's trouble (:class:`MailUnavailableError`
or the ``ConnectionError``/``TimeoutError`` aiosmtplib raises), retried and
counted by the circuit breaker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from enum import StrEnum

import aiosmtplib

from markets.services.mail import MailRejectedError, MailUnavailableError

__all__ = ["SmtpMailer", "SmtpSecurity", "SmtpServer"]

_PERMANENT = 500


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"
    """Upgrade the connection with STARTTLS (port 587), refusing a server without it."""
    TLS = "tls"
    """TLS from the first byte (port 465)."""
    NONE = "none"
    """Plain text: only for a relay on the same host or network, or tests."""


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int = 587
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0


class SmtpMailer:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def send(self, message: EmailMessage) -> None:
        server = self.server
        try:
            await aiosmtplib.send(
                message,
                hostname=server.host,
                port=server.port,
                username=server.username,
                password=server.password,
                use_tls=server.security is SmtpSecurity.TLS,
                start_tls=server.security is SmtpSecurity.STARTTLS,
                timeout=server.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            if all(refused.code >= _PERMANENT for refused in error.recipients):
                raise MailRejectedError("the mail server refused every recipient") from error
            raise MailUnavailableError("the mail server deferred a recipient") from error
        except aiosmtplib.SMTPAuthenticationError as error:
            raise MailUnavailableError("the mail server refused our credentials") from error
        except aiosmtplib.SMTPResponseException as error:
            if error.code >= _PERMANENT and not isinstance(error, aiosmtplib.SMTPConnectError):
                raise MailRejectedError(f"the mail server answered {error.code}") from error
            raise MailUnavailableError(f"the mail server answered {error.code}") from error
        except aiosmtplib.SMTPNotSupported as error:
            raise MailUnavailableError("the mail server lacks a required feature") from error
