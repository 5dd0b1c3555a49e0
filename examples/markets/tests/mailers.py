"""A mail backend for tests: records what it sends, or fails the way it is told to."""

from __future__ import annotations

import copy
from email.message import EmailMessage


class SwitchableMailer:
    """Delivers (records) each message unless ``failure`` is set, which it raises instead."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.failure: Exception | None = None
        self.attempts = 0

    async def send(self, message: EmailMessage) -> None:
        self.attempts += 1
        if self.failure is not None:
            raise copy.copy(self.failure)  # a fresh one each time, as a real backend raises
        self.sent.append(message)

    def recipients(self) -> list[str]:
        return [str(message["To"]) for message in self.sent]
