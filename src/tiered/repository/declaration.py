"""What a repository knows of its model, read once from the SQLAlchemy mapping.

The id, the version column, the relationships and their foreign keys, the
columns (nullable or not, text or not) and the unique constraints are all in
the mapping already; declaring them again on the repository would let the
two drift. A plain dataclass that is not mapped works in memory with an ``id``
and nothing more.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Enum, Index, String, UniqueConstraint
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapper
from sqlalchemy.orm.interfaces import MANYTOONE
from sqlalchemy.types import TypeDecorator, TypeEngine

from tiered.errors import ConfigurationError

__all__ = ["Declaration", "Relation", "declaration_of", "is_text_type"]


def is_text_type(type_: TypeEngine[Any]) -> bool:
    """Whether a column holds text that the text rule applies to (enums do not)."""
    if isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    return isinstance(type_, String) and not isinstance(type_, Enum)


@dataclass(frozen=True, slots=True)
class Relation:
    """A many-to-one relationship: ``local_key`` on this model holds the target's id."""

    name: str
    target: type[Any]
    local_key: str


@dataclass(frozen=True, slots=True)
class Declaration:
    model: type[Any]
    id_field: str
    version_field: str | None
    relations: Mapping[str, Relation]
    columns: frozenset[str]
    nullable: frozenset[str]
    text: frozenset[str]
    unique: tuple[tuple[str, ...], ...]
    python_types: Mapping[str, type[Any]]

    def require_columns(self, owner: str, kind: str, names: Any) -> None:
        unknown = sorted(str(name) for name in names if name not in self.columns)
        if unknown:
            raise ConfigurationError(
                f"{owner}: {kind} names no column of {self.model.__name__}: {', '.join(unknown)}"
            )


def _python_type(type_: TypeEngine[Any]) -> type[Any]:
    if isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    enum_class = getattr(type_, "enum_class", None)
    if isinstance(enum_class, type):
        return enum_class
    try:
        python_type: type[Any] = type_.python_type
    except NotImplementedError:
        return str
    return python_type


def declaration_of(model: type[Any]) -> Declaration:
    """The mapping of ``model``; an unmapped dataclass has an ``id``, no version, no relations."""
    mapper: Mapper[Any] | None = sa_inspect(model, raiseerr=False)
    if mapper is None:
        return _unmapped(model)
    keys: dict[Any, str] = {
        column: prop.key for prop in mapper.column_attrs for column in prop.columns
    }
    primary = [keys[column] for column in mapper.primary_key]
    if len(primary) != 1:
        raise ConfigurationError(f"{model.__name__}: a repository needs a single-column id")
    found_relations = {
        rel.key: Relation(rel.key, rel.mapper.class_, keys[rel.local_remote_pairs[0][0]])
        for rel in mapper.relationships
        if rel.direction is MANYTOONE and len(rel.local_remote_pairs) == 1
    }
    columns = {prop.key: prop.columns[0] for prop in mapper.column_attrs}
    version = mapper.version_id_col
    return Declaration(
        model=model,
        id_field=primary[0],
        version_field=keys[version] if version is not None else None,
        relations=found_relations,
        columns=frozenset(columns),
        nullable=frozenset(name for name, column in columns.items() if column.nullable),
        text=frozenset(name for name, column in columns.items() if is_text_type(column.type)),
        unique=_unique_constraints(mapper, keys),
        python_types={name: _python_type(column.type) for name, column in columns.items()},
    )


def _unique_constraints(
    mapper: Mapper[Any], keys: Mapping[Any, str]
) -> tuple[tuple[str, ...], ...]:
    table: Any = mapper.local_table
    groups: list[Any] = [
        *(c.columns for c in table.constraints if isinstance(c, UniqueConstraint)),
        *(index.columns for index in table.indexes if isinstance(index, Index) and index.unique),
        *([column] for column in table.columns if column.unique),
    ]
    found = [tuple(keys[column] for column in group) for group in groups]
    return tuple(dict.fromkeys(found))


def _unmapped(model: type[Any]) -> Declaration:
    if not dataclasses.is_dataclass(model):
        raise ConfigurationError(
            f"{model.__name__} is neither mapped by SQLAlchemy nor a dataclass: "
            "a repository cannot tell its fields"
        )
    types = {
        field.name: field.type if isinstance(field.type, type) else str
        for field in dataclasses.fields(model)
    }
    return Declaration(
        model=model,
        id_field="id",
        version_field=None,
        relations={},
        columns=frozenset(types),
        nullable=frozenset(),
        text=frozenset(name for name, kind in types.items() if kind is str),
        unique=(),
        python_types=types,
    )
