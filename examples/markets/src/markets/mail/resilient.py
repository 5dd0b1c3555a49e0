"""Retries outside, the circuit breaker inside: how every email is sent.

Each attempt passes through the breaker, so every failed attempt counts
against the mail server, and once the circuit is open the next attempt is
refused at once (``CircuitBreakerOpenError``, not retried) instead of
waiting out its backoff against a server known to be down; the job then
fails its try and comes back later with the job's own, longer backoff. Only
transient failures are retried or counted: a message the server refused is
not the server's outage.
"""

from __future__ import annotations

from email.message import EmailMessage

from markets.services.mail import Mailer
from tiered.resilience import CircuitBreaker, RetryPolicy

__all__ = ["ResilientMailer"]


class ResilientMailer:
    def __init__(self, mailer: Mailer, *, retry: RetryPolicy, breaker: CircuitBreaker) -> None:
        self.mailer = mailer
        self.retry = retry
        self.breaker = breaker

    async def send(self, message: EmailMessage) -> None:
        async def attempt() -> None:
            async with self.breaker:
                await self.mailer.send(message)

        await self.retry.call(attempt)
