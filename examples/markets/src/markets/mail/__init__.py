"""Mail backends: ``.eml`` files by default, SMTP when a host is configured."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from markets.config import Settings
from markets.mail.console import ConsoleMailer
from markets.mail.resilient import ResilientMailer
from markets.mail.smtp import SmtpMailer, SmtpSecurity, SmtpServer
from markets.services.mail import Mailer
from tiered.clock import Clock
from tiered.resilience import (
    BreakerBackend,
    BreakerMetrics,
    BreakerPolicy,
    CircuitBreaker,
    RetryPolicy,
    is_transient,
)

__all__ = [
    "ConsoleMailer",
    "ResilientMailer",
    "SmtpMailer",
    "SmtpSecurity",
    "SmtpServer",
    "backend_mailer",
    "resilient_mailer",
]


def backend_mailer(settings: Settings) -> Mailer:
    """SMTP when ``smtp_host`` is set, else ``.eml`` files under ``mail_dir``."""
    if settings.smtp_host is None:
        return ConsoleMailer(settings.mail_dir)
    password = settings.smtp_password
    return SmtpMailer(
        SmtpServer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=SmtpSecurity(settings.smtp_security),
            username=settings.smtp_username,
            password=None if password is None else password.get_secret_value(),
            timeout=settings.smtp_timeout,
        )
    )


def resilient_mailer(
    mailer: Mailer,
    settings: Settings,
    *,
    breaker_backend: BreakerBackend,
    clock: Clock,
    metrics: BreakerMetrics | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> ResilientMailer:
    """``mailer`` with the retry policy and the ``mail`` circuit breaker of ``settings``."""
    retry = RetryPolicy(
        max_attempts=settings.mail_retry_attempts,
        base_delay=0.5,
        max_delay=5.0,
        max_total_delay=15.0,
        is_transient=is_transient,
        sleep=sleep,
        clock=clock,
    )
    breaker = CircuitBreaker(
        "mail",
        breaker_backend,
        policy=BreakerPolicy.from_settings(settings),
        counts_as_failure=is_transient,
        metrics=metrics,
        clock=clock,
    )
    return ResilientMailer(mailer, retry=retry, breaker=breaker)
