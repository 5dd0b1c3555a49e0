"""Positions: a user's stake on one side of a market."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from markets.domain.clock import utc_now

__all__ = ["Position", "Side"]


class Side(StrEnum):
    YES = "yes"
    NO = "no"


@dataclass(eq=False)
class Position:
    id: UUID
    market_id: UUID
    user_id: UUID
    side: Side
    amount: Decimal
    created_at: datetime = field(default_factory=utc_now)
