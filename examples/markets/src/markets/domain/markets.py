"""Prediction markets: their lifecycle rules and who may see them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from markets.domain.clock import utc_now
from markets.domain.errors import InvalidTransitionError, MarketNotFoundError
from markets.domain.users import Actor

__all__ = [
    "ALLOWED_TRANSITIONS",
    "DESCRIPTION_MAX",
    "DESCRIPTION_PATTERN",
    "INITIAL_STATUSES",
    "NAME_MAX",
    "NAME_PATTERN",
    "Market",
    "MarketStatus",
    "Outcome",
]

NAME_MAX = 200
DESCRIPTION_MAX = 5000

_TEXT = r"[^\u0000-\u001f\u007f\ud800-\udfff]"
NAME_PATTERN = rf"^{_TEXT}*[^\s\u0000-\u001f\u007f\ud800-\udfff]{_TEXT}*$"
"""A name: not blank, no control characters (whatever the door it comes in by)."""
DESCRIPTION_PATTERN = r"^[^\u0000\ud800-\udfff]*$"
"""A description: any text but NUL, which PostgreSQL cannot store."""


class MarketStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    CLOSED = "closed"
    RESOLVED = "resolved"


class Outcome(StrEnum):
    YES = "yes"
    NO = "no"


ALLOWED_TRANSITIONS: dict[MarketStatus, frozenset[MarketStatus]] = {
    MarketStatus.DRAFT: frozenset({MarketStatus.ACTIVE}),
    MarketStatus.ACTIVE: frozenset({MarketStatus.CLOSED}),
    MarketStatus.CLOSED: frozenset(),
    MarketStatus.RESOLVED: frozenset(),
}
"""Edits may move a market along these edges; ``resolve`` is its own use case."""

INITIAL_STATUSES = frozenset({MarketStatus.DRAFT, MarketStatus.ACTIVE})
"""What a new market may start as: nothing is closed or resolved before it opens."""


@dataclass(eq=False)
class Market:
    id: UUID
    name: str
    creator_id: UUID
    description: str = ""
    status: MarketStatus = MarketStatus.DRAFT
    outcome: Outcome | None = None
    volume: Decimal = Decimal(0)
    created_at: datetime = field(default_factory=utc_now)
    updated_at: datetime = field(default_factory=utc_now)
    version: int = 0

    def visible_to(self, viewer: Actor | None) -> bool:
        """A draft is visible only to its creator and to moderators."""
        if self.status is not MarketStatus.DRAFT:
            return True
        return viewer is not None and (viewer.moderates or viewer.user_id == self.creator_id)

    def editable_by(self, actor: Actor) -> bool:
        return actor.moderates or actor.user_id == self.creator_id

    def ensure_visible_to(self, viewer: Actor | None) -> None:
        if not self.visible_to(viewer):
            raise MarketNotFoundError(self.id)

    def edit(
        self,
        now: datetime,
        *,
        name: str | None = None,
        description: str | None = None,
        status: MarketStatus | None = None,
    ) -> bool:
        """Apply an edit (``None`` leaves a field as it is); whether anything changed.

        The status moves first, so a refused transition leaves every field as it
        was. An edit that changes nothing keeps ``updated_at``, and so the
        version and the ETag: repeating a request is harmless.
        """
        before = (self.name, self.description, self.status)
        if status is not None:
            self.move_to(status, now)
        if name is not None:
            self.name = name
        if description is not None:
            self.description = description
        changed = (self.name, self.description, self.status) != before
        if changed:
            self.updated_at = now
        return changed

    def move_to(self, status: MarketStatus, now: datetime) -> None:
        if status == self.status:
            return
        if status not in ALLOWED_TRANSITIONS[self.status]:
            raise InvalidTransitionError(self.status.value, status.value)
        self.status = status
        self.updated_at = now

    def resolve(self, outcome: Outcome, now: datetime) -> None:
        if self.status not in (MarketStatus.ACTIVE, MarketStatus.CLOSED):
            raise InvalidTransitionError(self.status.value, MarketStatus.RESOLVED.value)
        self.status = MarketStatus.RESOLVED
        self.outcome = outcome
        self.updated_at = now
