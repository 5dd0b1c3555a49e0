"""Positions: the SQL repository and its in-memory twin."""

from __future__ import annotations

from typing import Any, ClassVar

from markets.domain.markets import Market
from markets.domain.positions import Position
from tiered.repository import InMemoryRepository, Repository, RepositoryConfig

__all__ = ["InMemoryPositionRepository", "PositionRepository"]


class _PositionDeclaration(RepositoryConfig[Position]):
    model_class = Position
    not_found_code = "POSITION_NOT_FOUND"
    filter_fields = frozenset({"market_id", "user_id", "side"})
    sort_fields = frozenset({"created_at", "amount"})
    relations = frozenset({"market"})


class PositionRepository(_PositionDeclaration, Repository[Position]):
    pass


class InMemoryPositionRepository(_PositionDeclaration, InMemoryRepository[Position]):
    foreign_keys: ClassVar[dict[str, tuple[type[Any], str]]] = {"market": (Market, "market_id")}
