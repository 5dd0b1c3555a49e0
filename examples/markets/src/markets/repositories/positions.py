"""Positions: one repository, on SQL or in memory."""

from __future__ import annotations

from markets.domain.positions import Position
from tiered.repository import Repository

__all__ = ["PositionRepository"]


class PositionRepository(Repository[Position]):
    """Clients filter on ``side`` only.

    The market and the holder come from the route (``/markets/{id}/positions``,
    ``/me/positions``), never from the query string, so a list cannot be
    pointed at another user's positions.
    """

    model_class = Position
    not_found_code = "POSITION_NOT_FOUND"
    filter_fields = frozenset({"side"})
    sort_fields = frozenset({"created_at", "amount"})
