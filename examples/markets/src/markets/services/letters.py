"""The emails the service sends, written in one place.

Each message carries a ``Message-ID`` derived from the job and effect that
sends it, the same on every try: a redelivered job produces the very same
message (the console backend then rewrites the same file), and mail systems
that deduplicate by ``Message-ID`` see one message.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from markets.domain.markets import Outcome
from tiered.clock import Clock

__all__ = ["Letters"]


class Letters:
    """Composes messages from ``sender`` (``"markets <no-reply@example.com>"``)."""

    def __init__(self, sender: str, clock: Clock) -> None:
        self.sender = sender
        self.clock = clock
        address = parseaddr(sender)[1]
        self.domain = address.rpartition("@")[2] or "localhost"

    def welcome(self, *, to: str, display_name: str, message_key: str) -> EmailMessage:
        text = (
            f"Hello {display_name},\n\n"
            "your markets account is ready. Sign in with this email address and the "
            "password you chose, then browse the open markets or create your own.\n\n"
            "If you did not sign up, ignore this message: nothing else will be sent.\n"
        )
        return self._message(to, display_name, "Welcome to markets", text, message_key)

    def market_resolved(
        self, *, to: str, display_name: str, market_name: str, outcome: Outcome, message_key: str
    ) -> EmailMessage:
        text = (
            f"Hello {display_name},\n\n"
            f'the market "{market_name}" has been resolved: {outcome.value.upper()}.\n'
            "Your positions on it are settled; see your notifications for details.\n"
        )
        return self._message(
            to, display_name, "A market you hold has been resolved", text, message_key
        )

    def _message(
        self, to: str, display_name: str, subject: str, text: str, message_key: str
    ) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = Address(display_name=display_name, addr_spec=to)
        message["Subject"] = subject
        message["Date"] = format_datetime(self.clock.now())
        message["Message-ID"] = f"<{message_key}@{self.domain}>"
        message.set_content(text)
        return message
