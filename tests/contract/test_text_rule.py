# ruff: noqa: RUF001
"""Text rule contract: one case-insensitive match and one string order on every backend.

Memory applies the rule in Python; SQLite and PostgreSQL apply it in SQL through
``tiered.db.text``. PostgreSQL runs twice: in the test database and in one whose
collation is linguistic (ICU ``en-US``), where the database's own order differs.
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import (
    ARRAY,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    column,
    event,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.dialects.sqlite.aiosqlite import dialect as aiosqlite_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from tests.contract.text_corpus import NEEDLES, PIVOTS, ROWS

from tiered.db import (
    Database,
    code_point_order,
    contains_pattern,
    fold,
    folded,
    folded_contains,
    ordered,
    register_sqlite_functions,
    text_contains,
)
from tiered.testing import scratch_database

metadata = MetaData()
words = Table(
    "text_rule_words",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(80), nullable=False),
)

FOLDING_CORPUS = [
    "ÄÖÜẞß",
    "İstanbul",
    "ΟΔΟΣ ΣΟΦΙΑΣ",
    "ΑΣ.",
    "ΑΣ'Α",
    "Σ",
    "ΑΣ\u0301",
    "ǄǅǆǇǈǉ",
    "ΑΒΓΔ Ωω ΐ",
    "ЁЖИК Ђ Ѣ",
    "IĞDIR ılık",
    "ﬁ ﬂ ﬀ",
    "ᏣᎳᎩ ꭰ",
    "🙂 ÅNGSTRÖM Å K",
    "Mixed ΣΟΦΙΑ Москва Ǆ",
]


@dataclass(frozen=True)
class Backend:
    """One place the rule runs: Python over ``ROWS``, or SQL over a table of them."""

    database: Database | None = None

    async def search(self, needle: str) -> set[str]:
        if self.database is None:
            return {row for row in ROWS if text_contains(row, needle)}
        return set(
            await self._names(select(words.c.name).where(folded_contains(words.c.name, needle)))
        )

    async def ordered(self, *, descending: bool = False) -> list[str]:
        if self.database is None:
            return sorted(ROWS, reverse=descending)
        key = ordered(words.c.name)
        return await self._names(select(words.c.name).order_by(key.desc() if descending else key))

    async def after(self, pivot: str, *, descending: bool = False) -> set[str]:
        if self.database is None:
            return {row for row in ROWS if (row < pivot if descending else row > pivot)}
        key = ordered(words.c.name)
        condition = key < pivot if descending else key > pivot
        return set(await self._names(select(words.c.name).where(condition)))

    async def _names(self, statement: object) -> list[str]:
        assert self.database is not None
        async with self.database.engine.connect() as connection:
            return list((await connection.execute(statement)).scalars())  # type: ignore[call-overload]


async def _filled(database: Database) -> Database:
    engine = database.engine.sync_engine
    if database.engine.dialect.name == "sqlite" and not event.contains(
        engine, "connect", register_sqlite_functions
    ):
        event.listen(engine, "connect", register_sqlite_functions)
        await database.engine.dispose()
    async with database.engine.begin() as connection:
        await connection.execute(insert(words), [{"id": i, "name": n} for i, n in enumerate(ROWS)])
    return database


@pytest_asyncio.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
        pytest.param("postgres-icu", id="postgres-icu", marks=pytest.mark.postgres),
    ]
)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "memory":
        yield Backend()
        return
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'text.db'}"
    else:
        fixture = "postgres_url" if request.param == "postgres" else "linguistic_postgres_url"
        url = request.getfixturevalue(fixture)
    async with scratch_database(url, metadata) as database:
        yield Backend(await _filled(database))


# -- the rule itself, in Python ---------------------------------------------------------


def test_matching_uses_full_lowercase_mapping() -> None:
    assert fold("Straße") == "straße"
    assert fold("STRASSE") == "strasse"
    assert fold("ΟΔΟΣ ΣΟΦΙΑΣ") == "οδος σοφιας"
    assert fold("İ") == "i\u0307"
    assert fold("ǅ") == "ǆ"
    assert fold("ﬁ") == "ﬁ"
    assert text_contains("ÉCOLE", "é")
    assert not text_contains("Straße", "ss")


def test_the_like_pattern_folds_and_escapes() -> None:
    assert contains_pattern("A%_\\Σ") == "%a\\%\\_\\\\σ%"
    assert contains_pattern("ΑΣ") == "%ας%"


def test_order_is_by_code_point() -> None:
    assert sorted(["é", "É", "a", "Z"]) == ["Z", "a", "É", "é"]


# -- the constructs, compiled -----------------------------------------------------------


def _sql(element: ClauseElement, dialect: Dialect) -> str:
    return str(element.compile(dialect=dialect))


def test_constructs_compile_per_dialect() -> None:
    pg: Dialect = asyncpg_dialect()  # type: ignore[no-untyped-call]
    lite: Dialect = aiosqlite_dialect()
    name = words.c.name
    assert (
        _sql(code_point_order(name) > "x", pg) == 'text_rule_words.name COLLATE "C" > $1::VARCHAR'
    )
    assert _sql(code_point_order(name) > "x", lite) == "text_rule_words.name > ?"
    assert _sql(ordered(name).desc(), pg) == 'text_rule_words.name COLLATE "C" DESC'
    assert _sql(ordered(words.c.id), pg) == "text_rule_words.id"
    assert _sql(folded(name), pg) == 'lower(text_rule_words.name COLLATE "und-x-icu")'
    assert _sql(folded(name), lite) == "tiered_lower(text_rule_words.name)"
    assert (
        _sql(folded_contains(name, "x"), lite)
        == "tiered_lower(text_rule_words.name) LIKE ? ESCAPE '\\'"
    )
    assert (
        _sql(code_point_order(name + "x"), pg)
        == '(text_rule_words.name || $1::VARCHAR) COLLATE "C"'
    )


def test_folding_a_non_text_column_is_refused() -> None:
    with pytest.raises(TypeError, match="text expression"):
        folded(words.c.id)


# -- every backend gives the Python answer ----------------------------------------------


async def test_search_results_equal_the_python_rule(backend: Backend) -> None:
    expected = {needle: {row for row in ROWS if fold(needle) in fold(row)} for needle in NEEDLES}
    found = {needle: await backend.search(needle) for needle in NEEDLES}
    assert found == expected
    assert found["ss"] == {"STRASSE"}
    assert found["ς"] == {"ΟΔΟΣ ΣΟΦΙΑΣ"}
    assert found["Σ"] == {"ΣΟΦΙΑ", "σοφία", "ΟΔΟΣ ΣΟΦΙΑΣ"}
    assert found["İ"] == {"İstanbul"}
    assert found["ı"] == {"Ilık"}
    assert found["fi"] == set()
    assert found["%"] == {"50% off_now \\o/"}


async def test_order_by_equals_python_sorted(backend: Backend) -> None:
    assert await backend.ordered() == sorted(ROWS)
    assert await backend.ordered(descending=True) == sorted(ROWS, reverse=True)


async def test_keyset_comparisons_use_the_same_order(backend: Backend) -> None:
    for pivot in PIVOTS:
        assert await backend.after(pivot) == {row for row in ROWS if row > pivot}, pivot
        assert await backend.after(pivot, descending=True) == {r for r in ROWS if r < pivot}, pivot


# -- PostgreSQL specifics ---------------------------------------------------------------


@pytest.mark.postgres
async def test_without_the_construct_a_linguistic_database_orders_differently(
    linguistic_postgres_url: str,
) -> None:
    async with scratch_database(linguistic_postgres_url, metadata) as database:
        await _filled(database)
        async with database.engine.connect() as connection:
            plain = list(
                (await connection.execute(select(words.c.name).order_by(words.c.name))).scalars()
            )
            pivot = select(func.count()).where(words.c.name > "Z")
            plain_after = await connection.scalar(pivot)
            coded_after = await connection.scalar(
                select(func.count()).where(code_point_order(words.c.name) > "Z")
            )
    assert sorted(plain) == sorted(ROWS)
    assert plain != sorted(ROWS)
    assert plain.index("apple") < plain.index("Zürich")
    assert coded_after == sum(row > "Z" for row in ROWS) != plain_after


@pytest.mark.postgres
async def test_icu_lowercasing_agrees_with_python_on_every_assigned_code_point(
    postgres_url: str,
) -> None:
    chars = [
        chr(point)
        for point in range(1, 0x110000)
        if unicodedata.category(chr(point)) not in ("Cn", "Cs")
    ]
    unnested = (
        func.unnest(literal(chars, ARRAY(Text)))
        .table_valued(column("value", Text), with_ordinality="n")
        .render_derived()
    )
    rows = select(folded(unnested.c.value)).order_by(unnested.c.n)
    statement = select(*(folded(literal(sample, Text)) for sample in FOLDING_CORPUS))
    async with (
        scratch_database(postgres_url, metadata) as database,
        database.engine.connect() as connection,
    ):
        lowered = list((await connection.execute(rows)).scalars())
        corpus = list((await connection.execute(statement)).one())
    differing = [
        f"U+{ord(char):04X} {unicodedata.name(char, '?')}"
        for char, low in zip(chars, lowered, strict=True)
        if low != fold(char)
    ]
    assert differing == []
    assert corpus == [fold(sample) for sample in FOLDING_CORPUS]
