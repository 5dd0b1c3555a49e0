"""The contract suite's test domain: plain dataclasses, mapped imperatively.

The entities know nothing of SQLAlchemy (as in the reference service); the
mapping below adds the tables, the ``owner`` relationship (never a dataclass
field: a dataclass default would null the foreign key at flush) and the
version column. The metadata is private to this suite.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Uuid,
)
from sqlalchemy.orm import registry, relationship

from tiered.repository import ReadModel, Repository

__all__ = [
    "Item",
    "ItemRepository",
    "ItemSummary",
    "Owner",
    "OwnerRef",
    "OwnerRepository",
    "metadata",
    "utc_naive",
]


@dataclass
class Owner:
    id: UUID
    name: str


@dataclass
class Item:
    id: UUID
    name: str
    owner_id: UUID
    status: str
    score: Decimal
    created_at: datetime
    version: int = 0


metadata = MetaData()
mapper_registry = registry(metadata=metadata)

owners = Table(
    "contract_owners",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
)

items = Table(
    "contract_items",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("owner_id", Uuid, ForeignKey("contract_owners.id"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("score", Numeric(18, 4), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
)

mapper_registry.map_imperatively(Owner, owners)
mapper_registry.map_imperatively(
    Item,
    items,
    properties={"owner": relationship(Owner, lazy="raise")},
    version_id_col=items.c.version,
)


class OwnerRef(ReadModel):
    id: UUID
    name: str


class ItemSummary(ReadModel):
    id: UUID
    name: str
    score: Decimal
    status: str
    owner: OwnerRef | None


class ItemRepository(Repository[Item]):
    model_class = Item
    filter_fields = frozenset({"name", "status", "score", "owner_id", "created_at"})
    sort_fields = frozenset({"name", "score", "created_at"})
    search_fields = ("name",)


class OwnerRepository(Repository[Owner]):
    model_class = Owner
    filter_fields = frozenset({"name"})
    sort_fields = frozenset({"name"})


def utc_naive(value: Any) -> Any:
    """SQLite hands datetimes back naive: compare everything as naive UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value
