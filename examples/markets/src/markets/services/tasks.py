"""The service's background tasks, declared: names, payloads, tries and backoff.

Use cases enqueue these declarations (``uow.jobs.enqueue(SEND_WELCOME_EMAIL,
…)``) in their own transaction. A declaration cannot run by itself: the
handlers need the app's database, mailer and clock, so ``markets.jobs``
builds each app's registry by binding every declaration to a handler
(:func:`bind`). The name, payload type, tries and backoff are the
declaration's, so what is enqueued and what runs always agree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from tiered.errors import ConfigurationError
from tiered.jobs import Backoff, JobContext, Task

__all__ = [
    "ANNOUNCE_RESOLUTION",
    "DECLARED_TASKS",
    "IMPORT_MARKETS",
    "NOTIFY_MARKET_RESOLVED",
    "SEND_WELCOME_EMAIL",
    "MarketImport",
    "ResolutionAnnouncement",
    "ResolutionNotice",
    "WelcomeEmail",
    "bind",
    "resolution_notice_key",
]

P = TypeVar("P")
R = TypeVar("R")

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class WelcomeEmail(BaseModel):
    """Only the id: the address is read when the email goes, so a changed one is honoured."""

    model_config = _FROZEN
    user_id: UUID


class ResolutionAnnouncement(BaseModel):
    model_config = _FROZEN
    market_id: UUID


class ResolutionNotice(BaseModel):
    model_config = _FROZEN
    market_id: UUID
    user_id: UUID


class MarketImport(BaseModel):
    model_config = _FROZEN
    creator_id: UUID
    filename: str = Field(max_length=255)
    content: str
    """The whole CSV text (at most the upload limit, 5 MB by default)."""


def _declare(name: str, payload: type[P], *, max_tries: int, backoff: Backoff) -> Task[P, Any]:
    async def unbound(ctx: JobContext, payload: P) -> Any:
        raise ConfigurationError(
            f"task {name!r} runs through an app's registry (markets.jobs), not on its own"
        )

    return Task(name, unbound, payload_type=payload, max_tries=max_tries, backoff=backoff)


def bind(declared: Task[P, Any], handler: Callable[[JobContext, P], Awaitable[R]]) -> Task[P, R]:
    """The runnable task: ``declared``'s name, payload, tries and backoff, run by ``handler``."""
    return Task(
        declared.name,
        handler,
        payload_type=declared.payload_type,
        max_tries=declared.max_tries,
        backoff=declared.backoff,
    )


_MAIL_BACKOFF = Backoff(base=30, factor=2, cap=3600)
"""Half a minute, then doubling up to an hour: a mail server outage of a few hours is absorbed."""

SEND_WELCOME_EMAIL = _declare(
    "send-welcome-email", WelcomeEmail, max_tries=8, backoff=_MAIL_BACKOFF
)
ANNOUNCE_RESOLUTION = _declare(
    "announce-market-resolution",
    ResolutionAnnouncement,
    max_tries=5,
    backoff=Backoff(base=10, factor=2, cap=600),
)
NOTIFY_MARKET_RESOLVED = _declare(
    "notify-market-resolved", ResolutionNotice, max_tries=6, backoff=_MAIL_BACKOFF
)
IMPORT_MARKETS = _declare(
    "import-markets", MarketImport, max_tries=3, backoff=Backoff(base=30, factor=2, cap=600)
)

DECLARED_TASKS: tuple[Task[Any, Any], ...] = (
    SEND_WELCOME_EMAIL,
    ANNOUNCE_RESOLUTION,
    NOTIFY_MARKET_RESOLVED,
    IMPORT_MARKETS,
)
"""Every task an app's registry must bind."""


def resolution_notice_key(market_id: UUID, user_id: UUID) -> str:
    """One notice per holder of a resolved market, however often the fan-out runs."""
    return f"market-resolved:{market_id}:{user_id}"
