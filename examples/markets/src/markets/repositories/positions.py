"""Positions: one repository, on SQL or in memory."""

from __future__ import annotations

from markets.domain.positions import Position
from tiered.repository import Repository

__all__ = ["PositionRepository"]


class PositionRepository(Repository[Position]):
    model_class = Position
    not_found_code = "POSITION_NOT_FOUND"
    filter_fields = frozenset({"market_id", "user_id", "side"})
    sort_fields = frozenset({"created_at", "amount"})
