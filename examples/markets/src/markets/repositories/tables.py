"""The schema, and the imperative mapping of domain classes onto it.

The domain stays plain dataclasses (no SQLAlchemy import); this module tells
the ORM how to persist them. Relationships are mapped here only, never as
dataclass fields, and default to ``lazy="raise"``: an accidental lazy load in
a loop fails loudly instead of quietly issuing N queries.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry, relationship
from sqlalchemy.types import TypeDecorator

from markets.domain.markets import DESCRIPTION_MAX, NAME_MAX, Market, MarketStatus, Outcome
from markets.domain.notifications import (
    TITLE_MAX,
    Channel,
    DeliveryResult,
    DeliveryStatus,
    Notification,
    NotificationKind,
)
from markets.domain.positions import Position, Side
from markets.domain.users import ApiKey, Permission, RefreshToken, Role, User
from tiered.db import ExactDecimal, UtcDateTime
from tiered.jobs import jobs_tables

__all__ = ["JOB_TABLES", "MONEY", "map_entities", "metadata"]

MONEY = ExactDecimal(18, 4)
"""Volumes and amounts: exact, 4 decimal places, refused (400) rather than rounded."""

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _enum(
    enum: type[Role] | type[MarketStatus] | type[Outcome] | type[Side] | type[NotificationKind],
    name: str,
) -> Enum:
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def _timestamps() -> list[Column[object]]:
    return [
        Column("created_at", UtcDateTime(), nullable=False),
        Column("updated_at", UtcDateTime(), nullable=False),
    ]


users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("role", _enum(Role, "user_role"), nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("password_hash", String(255), nullable=True),
    *_timestamps(),
    Column("token_version", Integer, nullable=False, server_default=text("0")),
)

markets = Table(
    "markets",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(NAME_MAX), nullable=False),
    Column("description", Text, nullable=False),
    Column("creator_id", Uuid, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False),
    Column("status", _enum(MarketStatus, "market_status"), nullable=False),
    Column("outcome", _enum(Outcome, "market_outcome"), nullable=True),
    Column("volume", MONEY, nullable=False),
    *_timestamps(),
    Column("version", Integer, nullable=False),
    CheckConstraint("volume >= 0", name="volume_not_negative"),
    CheckConstraint(f"length(description) <= {DESCRIPTION_MAX}", name="description_length"),
    Index("ix_markets_status_volume", "status", "volume"),
    Index("ix_markets_created_at_id", "created_at", "id"),
    Index("ix_markets_volume_id", "volume", "id"),
    Index("ix_markets_name_id", "name", "id"),
    Index("ix_markets_creator_id", "creator_id"),
)

positions = Table(
    "positions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("market_id", Uuid, ForeignKey("markets.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False),
    Column("side", _enum(Side, "position_side"), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    Index("ix_positions_market_id", "market_id"),
    Index("ix_positions_user_id_created_at", "user_id", "created_at"),
)


class PermissionList(TypeDecorator[tuple[Permission, ...]]):
    """An API key's scopes as one short text column: ``"read,write"``, sorted and unique."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(
        self, value: tuple[Permission, ...] | None, dialect: Dialect
    ) -> str | None:
        if value is None:
            return None
        return ",".join(sorted({Permission(item).value for item in value}))

    def process_result_value(self, value: Any, dialect: Dialect) -> tuple[Permission, ...] | None:
        if value is None:
            return None
        return tuple(Permission(item) for item in str(value).split(",") if item)


refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("family_id", String(32), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("family_expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Index("ix_refresh_tokens_family_id", "family_id"),
    Index("ix_refresh_tokens_user_id", "user_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("prefix", String(32), nullable=False, unique=True),
    Column("digest", String(64), nullable=False),
    Column("scopes", PermissionList(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=True),
    Column("last_used_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Index("ix_api_keys_user_id_created_at", "user_id", "created_at"),
)


class DeliveryList(TypeDecorator[tuple[DeliveryResult, ...]]):
    """A notification's per-channel outcomes as a JSON array of ``{channel, status, detail}``."""

    impl = JSON
    cache_ok = True

    def process_bind_param(
        self, value: tuple[DeliveryResult, ...] | None, dialect: Dialect
    ) -> list[dict[str, str | None]] | None:
        if value is None:
            return None
        return [
            {"channel": item.channel.value, "status": item.status.value, "detail": item.detail}
            for item in value
        ]

    def process_result_value(
        self, value: Any, dialect: Dialect
    ) -> tuple[DeliveryResult, ...] | None:
        if value is None:
            return None
        return tuple(
            DeliveryResult(Channel(item["channel"]), DeliveryStatus(item["status"]), item["detail"])
            for item in value
        )


notifications = Table(
    "notifications",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("kind", _enum(NotificationKind, "notification_kind"), nullable=False),
    Column("title", String(TITLE_MAX), nullable=False),
    Column("body", Text, nullable=False),
    Column("market_id", Uuid, nullable=True),
    Column("deliveries", DeliveryList(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_notifications_user_id_created_at", "user_id", "created_at"),
)
"""What users are told. ``market_id`` is no foreign key: a notice outlives its market."""

JOB_TABLES = jobs_tables(metadata)
"""The job queue, its dead letters and its record of effects, in the service's own schema."""

_registry = registry(metadata=metadata)


def map_entities() -> None:
    """Map the domain classes once per process (idempotent)."""
    if getattr(User, "__mapper__", None) is not None:
        return
    _registry.map_imperatively(User, users)
    _registry.map_imperatively(
        Market,
        markets,
        properties={"creator": relationship(User, lazy="raise", viewonly=True)},
        version_id_col=markets.c.version,
    )
    _registry.map_imperatively(
        Position,
        positions,
        properties={"market": relationship(Market, lazy="raise", viewonly=True)},
    )
    _registry.map_imperatively(
        ApiKey,
        api_keys,
        properties={"user": relationship(User, lazy="raise", viewonly=True)},
    )
    _registry.map_imperatively(RefreshToken, refresh_tokens)
    _registry.map_imperatively(Notification, notifications)
