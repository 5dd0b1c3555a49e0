"""Column types contract: the same value is stored, refused or returned alike on every database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select, update
from sqlalchemy.exc import StatementError

from tiered.db import Database, DecimalRangeError, ExactDecimal, UtcDateTime
from tiered.errors import ConfigurationError, InvalidInputError
from tiered.testing import scratch_database

metadata = MetaData()
ledger = Table(
    "column_types_ledger",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("amount", ExactDecimal(18, 4), nullable=True),
    Column("price", ExactDecimal(5, 2), nullable=True),
    Column("at", UtcDateTime(), nullable=True),
)

LARGEST = Decimal("99999999999999.9999")
STORED = [
    (LARGEST, "99999999999999.9999"),
    (-LARGEST, "-99999999999999.9999"),
    (Decimal("0.0001"), "0.0001"),
    (Decimal("-0.0001"), "-0.0001"),
    (Decimal(0), "0.0000"),
    (Decimal("0E-10"), "0.0000"),
    (Decimal("-0"), "0.0000"),
    (Decimal("1.50000000"), "1.5000"),
    (Decimal("1E+3"), "1000.0000"),
    (12, "12.0000"),
    (0.1, "0.1000"),
    ("-3.25", "-3.2500"),
]
REFUSED = [
    Decimal("0.00015"),
    Decimal("0.00005"),
    Decimal("-0.00001"),
    Decimal("1E+14"),
    Decimal("1E+15"),
    LARGEST + Decimal("0.0001"),
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
    float("nan"),
    float("inf"),
    1e15,
    "abc",
    True,
]


@pytest_asyncio.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'types.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    async with scratch_database(url, metadata) as scratch:
        yield scratch


@pytest_asyncio.fixture
async def sqlite_only(tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite keeps datetimes as text, which any tool may have written."""
    async with scratch_database(f"sqlite+aiosqlite:///{tmp_path / 'types.db'}", metadata) as db:
        yield db


async def _amounts(database: Database) -> list[Decimal]:
    async with database.engine.connect() as connection:
        result = await connection.execute(select(ledger.c.amount).order_by(ledger.c.id))
        return list(result.scalars())


@pytest.mark.parametrize(("value", "expected"), STORED, ids=[repr(v) for v, _ in STORED])
async def test_boundary_values_round_trip_exactly(
    database: Database, value: Any, expected: str
) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(insert(ledger).values(id=1, amount=value))
        found = await connection.scalar(select(ledger.c.id).where(ledger.c.amount == value))
    assert found == 1
    (stored,) = await _amounts(database)
    assert str(stored) == expected


@pytest.mark.parametrize("value", REFUSED, ids=[repr(v) for v in REFUSED])
async def test_values_that_do_not_fit_are_refused_as_invalid_input(
    database: Database, value: Any
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        async with database.engine.begin() as connection:
            await connection.execute(insert(ledger).values(id=1, amount=value))
    assert caught.value.status == 400
    assert "14 digits before the decimal point and 4 after it" in caught.value.message
    assert caught.value.details == {"precision": 18, "scale": 4}
    assert await _amounts(database) == []


async def test_a_refused_value_in_a_where_clause_is_refused_too(database: Database) -> None:
    async with database.engine.connect() as connection:
        with pytest.raises(DecimalRangeError, match="more than 2 decimal places"):
            await connection.execute(select(ledger.c.id).where(ledger.c.price > Decimal("0.001")))


async def test_a_refused_row_in_a_batch_refuses_the_whole_batch(database: Database) -> None:
    rows = [{"id": 1, "amount": Decimal(1)}, {"id": 2, "amount": Decimal("0.00001")}]
    with pytest.raises(DecimalRangeError):
        async with database.engine.begin() as connection:
            await connection.execute(insert(ledger), rows)
    assert await _amounts(database) == []


async def test_sql_arithmetic_and_sums_stay_exact(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(insert(ledger), [{"id": 1, "amount": Decimal("0.1")}])
        for _ in range(9):
            await connection.execute(update(ledger).values(amount=ledger.c.amount + Decimal("0.2")))
        await connection.execute(update(ledger).values(amount=ledger.c.amount - Decimal("0.0001")))
        await connection.execute(
            insert(ledger), [{"id": 2, "amount": Decimal("-0.3")}, {"id": 3, "amount": 7}]
        )
        total = await connection.scalar(select(func.sum(ledger.c.amount)))
    assert await _amounts(database) == [Decimal("1.8999"), Decimal("-0.3"), Decimal(7)]
    assert total == Decimal("8.5999")


async def test_order_by_is_numeric_and_exact(database: Database) -> None:
    values = [
        Decimal("-2"),
        Decimal("0.0001"),
        Decimal("10"),
        Decimal("-0.0001"),
        Decimal("9.9999"),
    ]
    async with database.engine.begin() as connection:
        await connection.execute(
            insert(ledger), [{"id": i, "amount": v} for i, v in enumerate(values)]
        )
        ordered = (await connection.execute(select(ledger.c.amount).order_by("amount"))).scalars()
        assert list(ordered) == sorted(values)


async def test_aware_datetimes_come_back_aware_in_utc(database: Database) -> None:
    local = datetime(
        2026, 3, 29, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30))
    )
    async with database.engine.begin() as connection:
        await connection.execute(insert(ledger).values(id=1, at=local))
        found = await connection.scalar(select(ledger.c.id).where(ledger.c.at == local))
        stored = await connection.scalar(select(ledger.c.at))
    assert found == 1
    assert stored == local
    assert stored.tzinfo is UTC
    assert stored.isoformat() == "2026-03-28T20:00:15.123456+00:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-28 20:00:15.123456", "2026-03-28T20:00:15.123456+00:00"),
        ("2026-03-28 20:00:15", "2026-03-28T20:00:15+00:00"),
        ("2026-03-28T20:00:15.5", "2026-03-28T20:00:15.500000+00:00"),
        ("2026-03-28", "2026-03-28T00:00:00+00:00"),
        ("2026-03-28T22:00:15+02:00", "2026-03-28T20:00:15+00:00"),
        ("2026-03-28T20:00:15Z", "2026-03-28T20:00:15+00:00"),
    ],
)
async def test_datetime_text_written_by_other_tools_reads_back_in_utc(
    sqlite_only: Database, text: str, expected: str
) -> None:
    async with sqlite_only.engine.begin() as connection:
        await connection.exec_driver_sql(
            f"INSERT INTO {ledger.name} (id, at) VALUES (1, ?)", (text,)
        )
        stored = await connection.scalar(select(ledger.c.at))
    assert stored.tzinfo is UTC
    assert stored.isoformat() == expected


async def test_naive_datetimes_are_refused(database: Database) -> None:
    with pytest.raises(StatementError) as caught:
        async with database.engine.begin() as connection:
            await connection.execute(insert(ledger).values(id=1, at=datetime(2026, 1, 1)))
    assert "timezone-aware" in str(caught.value.orig)


@pytest.mark.parametrize(("value", "expected"), STORED, ids=[repr(v) for v, _ in STORED])
def test_check_is_the_same_rule_without_a_database(value: Any, expected: str) -> None:
    assert str(ExactDecimal(18, 4).check(value)) == expected


@pytest.mark.parametrize("value", REFUSED, ids=[repr(v) for v in REFUSED])
def test_check_refuses_what_the_column_refuses(value: Any) -> None:
    with pytest.raises(DecimalRangeError):
        ExactDecimal(18, 4).check(value)


@pytest.mark.parametrize(("precision", "scale"), [(19, 4), (20, 4), (0, 0), (4, 5), (10, -1)])
def test_a_precision_sqlite_cannot_hold_is_refused_when_the_type_is_built(
    precision: int, scale: int
) -> None:
    with pytest.raises(ConfigurationError, match="precision <= 18"):
        ExactDecimal(precision, scale)


def test_the_default_precision_fits_a_signed_64_bit_integer() -> None:
    default = ExactDecimal()
    assert (default.precision, default.scale) == (18, 4)
    assert int(default.check(LARGEST).scaleb(default.scale)) < 2**63
