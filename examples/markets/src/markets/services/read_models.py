"""What the service layer returns for reads: DTOs built straight from rows."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from markets.domain.markets import MarketStatus, Outcome
from markets.domain.positions import Side
from tiered.repository import ReadModel

__all__ = ["CreatorRef", "MarketDetail", "MarketRef", "MarketSummary", "PositionView"]


class CreatorRef(ReadModel):
    id: UUID
    display_name: str


class MarketSummary(ReadModel):
    id: UUID
    name: str
    status: MarketStatus
    outcome: Outcome | None
    volume: Decimal
    created_at: datetime
    updated_at: datetime
    creator: CreatorRef


class MarketDetail(MarketSummary):
    description: str
    version: int


class MarketRef(ReadModel):
    id: UUID
    name: str
    status: MarketStatus
    outcome: Outcome | None


class PositionView(ReadModel):
    id: UUID
    side: Side
    amount: Decimal
    created_at: datetime
    market: MarketRef
