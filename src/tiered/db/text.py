"""One rule for case-insensitive matching and one for string order, on every backend.

Left alone, each backend has its own idea: SQLite's ``lower()`` and ``LIKE``
fold ASCII only, PostgreSQL folds and sorts by the database's locale, and
Python folds and sorts by its own rules. A test on SQLite or in memory would
then prove nothing about production. So:

- **Matching** is a substring test after Unicode full lowercase mapping, which
  is Python's ``str.lower()`` (``"Straße"`` and ``"STRASSE"`` stay different,
  ``"Σ"`` becomes ``"ς"`` at the end of a word). SQLite gets the very same
  Python function as ``tiered_lower``; PostgreSQL runs ``lower()`` under the ICU
  root locale (``und-x-icu``), whose full case mapping agrees with Python on
  every code point both know, whatever the database's locale.
- **Order** is by code point (``"Z" < "a" < "É" < "é"``): Python's own ``str``
  order, SQLite's ``BINARY`` collation and PostgreSQL's ``"C"`` collation.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Enum, String, Text, collate, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, Cast, ColumnClause, Grouping
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import FromClause
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType
from sqlalchemy.types import NullType, TypeDecorator, TypeEngine

__all__ = [
    "FOLD_COLLATION",
    "ORDER_COLLATION",
    "SQLITE_FOLD_FUNCTION",
    "code_point_order",
    "contains_pattern",
    "escape_like",
    "fold",
    "folded",
    "folded_contains",
    "ordered",
    "register_sqlite_functions",
    "text_contains",
]

_T = TypeVar("_T")

SQLITE_FOLD_FUNCTION = "tiered_lower"
FOLD_COLLATION = "und-x-icu"
"""PostgreSQL's ICU root locale: locale-neutral full case mapping."""
ORDER_COLLATION = "C"
"""PostgreSQL's byte order, which for UTF-8 is code point order."""


def fold(text: str) -> str:
    """The form two strings are compared in when case must not matter."""
    return text.lower()


def text_contains(text: str, needle: str) -> bool:
    """The matching rule in pure Python, for repositories that run no SQL."""
    return fold(needle) in fold(text)


def escape_like(text: str) -> str:
    """``text`` as a literal inside a ``LIKE`` pattern whose escape is ``\\``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains_pattern(needle: str) -> str:
    """The ``LIKE`` pattern (escape ``\\``) that finds ``needle`` in a folded column."""
    return f"%{escape_like(fold(needle))}%"


def _sqlite_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def register_sqlite_functions(dbapi_connection: Any, _connection_record: Any = None) -> None:
    """Give a new SQLite connection the functions :func:`folded` compiles to.

    Shaped as a ``connect`` event listener. SQLAlchemy's aiosqlite adapter
    exposes ``create_function`` as the sqlite3 connection does, so one call
    serves both drivers. Declared deterministic, which lets SQLite reuse a
    result instead of calling back into Python.
    """
    dbapi_connection.create_function(SQLITE_FOLD_FUNCTION, 1, _sqlite_lower, deterministic=True)


def _is_text(type_: TypeEngine[Any]) -> bool:
    if isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    return isinstance(type_, String) and not isinstance(type_, Enum)


def _operand(element: ColumnElement[_T]) -> ColumnElement[_T]:
    """``element`` parenthesized unless atomic: ``COLLATE`` binds tighter than ``||``."""
    if isinstance(element, ColumnClause | BindParameter | Cast | FunctionElement | Grouping):
        return element
    return Grouping(element)


class _Folded(ColumnElement[str]):
    """``expr`` after the matching rule's case mapping; compiled per dialect."""

    __visit_name__ = "tiered_folded"
    inherit_cache = True
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012 (SQLAlchemy's declaration)
        ("element", InternalTraversal.dp_clauseelement)
    ]

    def __init__(self, element: ColumnElement[Any]) -> None:
        if not (_is_text(element.type) or isinstance(element.type, NullType)):
            raise TypeError(
                f"folded() needs a text expression, not {element.type!r}: the text form of "
                "other types differs between backends"
            )
        self.element = element
        self.type = Text()

    @property
    def _from_objects(self) -> list[FromClause]:
        return self.element._from_objects


class _CodePointOrder(ColumnElement[_T]):
    """``expr`` compared by code point; compiled per dialect."""

    __visit_name__ = "tiered_code_point_order"
    inherit_cache = True
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012 (SQLAlchemy's declaration)
        ("element", InternalTraversal.dp_clauseelement)
    ]

    def __init__(self, element: ColumnElement[_T]) -> None:
        self.element = element
        self.type = element.type

    @property
    def _from_objects(self) -> list[FromClause]:
        return self.element._from_objects


def folded(expr: ColumnElement[Any]) -> ColumnElement[str]:
    """``expr`` case-folded by the matching rule; ``expr`` must be text.

    SQLite: ``tiered_lower(expr)`` (needs :func:`register_sqlite_functions`);
    PostgreSQL: ``lower(expr COLLATE "und-x-icu")``; other dialects: ``lower(expr)``.
    """
    return _Folded(expr)


def folded_contains(expr: ColumnElement[Any], needle: str) -> ColumnElement[bool]:
    """``expr`` contains ``needle``, case-insensitively, ``%`` and ``_`` taken literally."""
    return folded(expr).like(contains_pattern(needle), escape="\\")


def code_point_order(expr: ColumnElement[_T]) -> ColumnElement[_T]:
    """``expr`` for ``ORDER BY`` and keyset comparisons by code point.

    PostgreSQL: ``expr COLLATE "C"``; SQLite and others: ``expr`` unchanged
    (SQLite's default ``BINARY`` collation already is code point order).
    Only for text expressions; see :func:`ordered`.
    """
    return _CodePointOrder(expr)


def ordered(expr: ColumnElement[_T]) -> ColumnElement[_T]:
    """:func:`code_point_order` for text columns, any other column unchanged."""
    return code_point_order(expr) if _is_text(expr.type) else expr


@compiles(_Folded)
def _fold_default(element: _Folded, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(func.lower(element.element), **kw)


@compiles(_Folded, "sqlite")
def _fold_sqlite(element: _Folded, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(getattr(func, SQLITE_FOLD_FUNCTION)(element.element), **kw)


@compiles(_Folded, "postgresql")
def _fold_postgresql(element: _Folded, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(func.lower(collate(_operand(element.element), FOLD_COLLATION)), **kw)


@compiles(_CodePointOrder)
def _order_default(element: _CodePointOrder[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.element, **kw)


@compiles(_CodePointOrder, "postgresql")
def _order_postgresql(element: _CodePointOrder[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(collate(_operand(element.element), ORDER_COLLATION), **kw)
