"""What the service layer returns for reads: DTOs built straight from rows."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from pydantic import ConfigDict
from pydantic.config import JsonDict

from markets.domain.markets import MarketStatus, Outcome
from markets.domain.positions import Side
from tiered.repository import ReadModel

__all__ = [
    "EXAMPLE_MARKET_ID",
    "EXAMPLE_POSITION_ID",
    "CreatorRef",
    "MarketDetail",
    "MarketRef",
    "MarketSummary",
    "PositionDetail",
    "PositionView",
]

EXAMPLE_MARKET_ID = "8d3e5f1a-6b2c-4d7e-9f0a-1b2c3d4e5f60"
"""The market the documentation's examples show (and fail to find)."""

EXAMPLE_POSITION_ID = "5a7c9e1b-3d5f-4a7b-9c1d-3e5f7a9b1c2d"

_ALICE: JsonDict = {"id": "2c4e6a8b-1d3f-4a5b-8c7d-9e0f1a2b3c4d", "display_name": "Alice Martin"}
_BOB: JsonDict = {"id": "7e9f1a2b-3c4d-4e5f-a6b7-c8d9e0f1a2b3", "display_name": "Bob Okafor"}
_OPEN_MARKET: JsonDict = {
    "id": EXAMPLE_MARKET_ID,
    "name": "Will BTC close above 100k USD in 2025?",
    "status": "active",
    "outcome": None,
    "volume": "1250.5000",
    "created_at": "2025-03-05T09:30:00Z",
    "updated_at": "2025-03-06T14:02:41Z",
    "creator": _ALICE,
}
_RESOLVED_MARKET: JsonDict = {
    "id": "4b1a9c7e-2d5f-4e8a-9b3c-6f0d2e1a7c4b",
    "name": "Will the city council approve the new tram line?",
    "status": "resolved",
    "outcome": "yes",
    "volume": "86.0000",
    "created_at": "2025-03-02T17:45:12Z",
    "updated_at": "2025-04-18T08:15:00Z",
    "creator": _BOB,
}


class CreatorRef(ReadModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ALICE]})

    id: UUID
    display_name: str


class MarketSummary(ReadModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_OPEN_MARKET, _RESOLVED_MARKET]})

    id: UUID
    name: str
    status: MarketStatus
    outcome: Outcome | None
    volume: Decimal
    created_at: datetime
    updated_at: datetime
    creator: CreatorRef


class MarketDetail(MarketSummary):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_OPEN_MARKET,
                    "description": "Resolves YES if BTC/USD closes above 100,000 on 31 December "
                    "2025 (UTC) on the reference exchange.",
                    "version": 3,
                }
            ]
        }
    )

    description: str
    version: int


_MARKET_REF: JsonDict = {key: _OPEN_MARKET[key] for key in ("id", "name", "status", "outcome")}
_POSITION: JsonDict = {
    "id": EXAMPLE_POSITION_ID,
    "side": "yes",
    "amount": "25.5000",
    "created_at": "2025-03-06T14:02:41Z",
}


class MarketRef(ReadModel):
    """A market as a position shows it: enough to recognise it and see how it ended."""

    model_config = ConfigDict(json_schema_extra={"examples": [_MARKET_REF]})

    id: UUID
    name: str
    status: MarketStatus
    outcome: Outcome | None


class PositionDetail(ReadModel):
    """A position as its market lists it: who holds which side, and how much."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_POSITION, "market_id": EXAMPLE_MARKET_ID, "user_id": _BOB["id"]}]
        }
    )

    id: UUID
    market_id: UUID
    user_id: UUID
    side: Side
    amount: Decimal
    created_at: datetime


class PositionView(ReadModel):
    """One of the caller's own positions, with the market it was taken on."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_POSITION, "market": _MARKET_REF}]}
    )

    id: UUID
    side: Side
    amount: Decimal
    created_at: datetime
    market: MarketRef
