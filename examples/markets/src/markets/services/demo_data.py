"""Demo data: deterministic, idempotent, fast enough for ``make serve``.

Identifiers are UUIDv5 of a fixed name, so running the seed twice finds what
it made the first time and adds only what is missing. Positions go through
the same atomic volume update as a real purchase, so volumes always equal the
sum of their positions.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from markets.domain.clock import utc_now
from markets.domain.markets import Market, MarketStatus, Outcome
from markets.domain.positions import Position, Side
from markets.domain.users import Role, User
from markets.repositories.unit_of_work import MarketsUnitOfWorkPort
from tiered.clock import SystemClock
from tiered.repository import AsyncRepository, Filter, Increment
from tiered.security import PasswordHasher, RefreshTokens

__all__ = [
    "DEMO_ADMIN_EMAIL",
    "DemoSize",
    "demo_market_name",
    "ensure_demo_admin_password",
    "seed_demo",
]

T = TypeVar("T", User, Market, Position)

_BATCH = 500
_TEAMS = ("Harbour City", "Northside", "Riverdale", "Lakeshore", "Old Town", "Westbrook")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def demo_market_name(index: int) -> str:
    """A plausible question, distinct for every index: five topics, each with its own numbers."""
    round_, topic = divmod(index, 5)
    if topic == 0:
        return f"Will BTC close above ${40_000 + 2_500 * round_:,} this year?"
    if topic == 1:
        return f"Will the city council approve housing plan #{round_ + 1}?"
    if topic == 2:
        return f"Will release {1 + round_ // 10}.{round_ % 10} ship before the deadline?"
    if topic == 3:
        season, team = divmod(round_, len(_TEAMS))
        return f"Will {_TEAMS[team]} win the {2030 + season} cup final?"
    year, month = divmod(round_, len(_MONTHS))
    return f"Will rainfall in {_MONTHS[month]} {2030 + year} exceed {60 + 5 * (round_ % 7)} mm?"


@dataclass(frozen=True, slots=True)
class DemoSize:
    users: int = 20
    markets: int = 200
    positions: int = 1000


def _id(kind: str, index: int) -> UUID:
    return uuid5(NAMESPACE_URL, f"tiered-markets-demo/{kind}/{index}")


def demo_email(index: int) -> str:
    return DEMO_ADMIN_EMAIL if index == 0 else f"user{index}@example.com"


DEMO_ADMIN_EMAIL = "admin@example.com"
"""The one demo account that can sign in; the others have no password at all."""


def _user(index: int) -> User:
    role = Role.ADMIN if index == 0 else Role.MODERATOR if index == 1 else Role.USER
    return User(_id("user", index), demo_email(index), f"Demo user {index}", role=role)


def _market(index: int, users: int, rng: random.Random) -> Market:
    status = rng.choices(list(MarketStatus), weights=(1, 6, 2, 1))[0]
    created = utc_now() - timedelta(minutes=index)
    return Market(
        id=_id("market", index),
        name=demo_market_name(index),
        description=f"Demo market {index}.",
        creator_id=_id("user", rng.randrange(users)),
        status=status,
        outcome=rng.choice(list(Outcome)) if status is MarketStatus.RESOLVED else None,
        created_at=created,
        updated_at=created,
    )


async def _buy(uow: MarketsUnitOfWorkPort, positions: list[Position]) -> None:
    for position in positions:
        if await uow.markets.add_volume(position.market_id, position.amount):
            await uow.positions.create(position)


async def _insert_missing(
    new_uow: Callable[[], MarketsUnitOfWorkPort],
    rows: list[T],
    repository: Callable[[MarketsUnitOfWorkPort], AsyncRepository[T]],
    insert: Callable[[MarketsUnitOfWorkPort, list[T]], Awaitable[object]],
    progress: Callable[[int], None],
) -> int:
    created = 0
    for start in range(0, len(rows), _BATCH):
        batch = rows[start : start + _BATCH]
        async with new_uow() as uow:
            existing = await repository(uow).get_many([row.id for row in batch])
            known = {entity.id for entity in existing}
            todo = [row for row in batch if row.id not in known]
            await insert(uow, todo)
        created += len(todo)
        progress(len(batch))
    return created


async def seed_demo(
    new_uow: Callable[[], MarketsUnitOfWorkPort],
    size: DemoSize,
    progress: Callable[[int], None] = lambda _: None,
) -> int:
    """Create whatever part of the demo data set is missing; returns rows created."""
    rng = random.Random(7)  # noqa: S311 - demo data, not security
    users = [_user(index) for index in range(size.users)]
    markets = [_market(index, size.users, rng) for index in range(size.markets)]
    open_markets = [m.id for m in markets if m.status is MarketStatus.ACTIVE] or [markets[0].id]
    positions = [
        Position(
            _id("position", index),
            rng.choice(open_markets),
            _id("user", rng.randrange(size.users)),
            rng.choice(list(Side)),
            Decimal(rng.randrange(1, 500)),
        )
        for index in range(size.positions)
    ]
    created = await _insert_missing(
        new_uow,
        users,
        lambda uow: uow.users,
        lambda uow, rows: uow.users.create_many(rows),
        progress,
    )
    created += await _insert_missing(
        new_uow,
        markets,
        lambda uow: uow.markets,
        lambda uow, rows: uow.markets.create_many(rows),
        progress,
    )
    created += await _insert_missing(new_uow, positions, lambda uow: uow.positions, _buy, progress)
    return created


async def ensure_demo_admin_password(
    new_uow: Callable[[], MarketsUnitOfWorkPort],
    hasher: PasswordHasher,
    password: str,
    *,
    replace: bool,
) -> bool | None:
    """Give the demo admin ``password`` if it has none yet, or always with ``replace``.

    Whether the password changed, or ``None`` when the database holds no demo
    admin. A password is never fixed in code: the caller generates it and
    keeps it where only the operator can read it. Replacing one signs the
    admin out everywhere, as any password change does.
    """
    admin_id = _id("user", 0)
    async with new_uow().read_only() as uow:
        admin = await uow.users.get_by_id(admin_id)
    if admin is None:
        return None
    if admin.password_hash is not None and not replace:
        return False
    password_hash = await hasher.hash(password)
    async with new_uow() as uow:
        changed = await uow.users.update_where(
            [Filter.eq("id", admin_id)],
            {"password_hash": password_hash, "token_version": Increment(1)},
        )
        await RefreshTokens(uow.refresh_tokens, SystemClock()).revoke_user(str(admin_id))
    return changed == 1
