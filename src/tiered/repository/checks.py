"""What a repository refuses before any I/O, and why each refusal is what it is.

A query the mapping cannot answer (a field that is no column, an unknown
relation, ``search`` without search fields, a read model it cannot fill) is
the caller's bug: a :class:`ConfigurationError`, never the client's 400. Only
client text earns a 400 here: a NUL character, which PostgreSQL refuses and
SQLite keeps, is refused alike on every backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tiered.errors import ConfigurationError, FieldError, InvalidInputError
from tiered.repository.declaration import Declaration, declaration_of
from tiered.repository.query import Filter, Op, SortKey
from tiered.repository.read_model import ReadModel, read_model_fields

__all__ = ["query_problems", "read_model_problems"]


def query_problems(
    declaration: Declaration,
    owner: str,
    search_fields: tuple[str, ...],
    query: tuple[Sequence[Filter], Sequence[SortKey], str | None, Sequence[str]],
) -> None:
    """Refuse a query (filters, sort, search, load) the mapping cannot answer."""
    filters, sort, search, load = query
    declaration.require_columns(owner, "a filter", [item.field for item in filters])
    declaration.require_columns(owner, "a sort", [key.field for key in sort])
    problems = [
        f"{item.field} {item.op} needs a list"
        for item in filters
        if item.op is Op.IN and not isinstance(item.value, tuple | list | set | frozenset)
    ]
    problems += [
        f"{item.field} is not text: contains needs text"
        for item in filters
        if item.op is Op.CONTAINS and item.field not in declaration.text
    ]
    problems += [
        f"cannot order by nullable {k.field}" for k in sort if k.field in declaration.nullable
    ]
    problems += [f"unknown relation {name!r}" for name in load if name not in declaration.relations]
    if search is not None and not search_fields:
        problems.append("search needs search_fields")
    if problems:
        raise ConfigurationError(f"{owner}: {'; '.join(problems)}")
    nul = [FieldError("/q", "contains a NUL character", "query")] if _has_nul(search) else []
    nul += [
        FieldError(f"/{item.field}", "contains a NUL character", "query")
        for item in filters
        if _has_nul(item.value)
    ]
    if nul:
        raise InvalidInputError(
            "Text in a query may not contain NUL characters.", code="INVALID_QUERY", errors=nul
        )


def read_model_problems(declaration: Declaration, owner: str, model: type[ReadModel]) -> None:
    """Refuse ``model`` unless its fields are columns or many-to-one relations' columns."""
    problems = []
    for field in read_model_fields(model):
        if field.nested is None:
            if field.name not in declaration.columns:
                problems.append(f"{field.name} is no column of {declaration.model.__name__}")
            continue
        relation = declaration.relations.get(field.name)
        if relation is None:
            problems.append(f"{field.name} is no many-to-one relation")
            continue
        target = declaration_of(relation.target)
        problems += [
            f"{field.name}.{sub.name} is no column of {relation.target.__name__}"
            for sub in read_model_fields(field.nested)
            if sub.nested is not None or sub.name not in target.columns
        ]
    if problems:
        raise ConfigurationError(f"{model.__name__} for {owner}: {'; '.join(problems)}")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, tuple | list | set | frozenset):
        return any(isinstance(each, str) and "\x00" in each for each in value)
    return False
