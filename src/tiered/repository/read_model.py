"""Read models: the DTO a list endpoint returns, built without the ORM.

A read model names the columns it needs; a field whose type is another read
model names a relationship (``creator: CreatorRef`` → the ``creator``
relationship). Repositories select exactly those columns (joins included) and
build instances with ``model_construct``: rows from our own database are
trusted, so per-row validation would be pure cost.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from functools import cache
from typing import Any, Self, Union, cast, get_args, get_origin

from pydantic import BaseModel, ConfigDict

__all__ = ["ReadModel", "ReadModelField", "read_model_fields"]


class ReadModel(BaseModel):
    """Base of DTOs that repositories can build straight from rows."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    @classmethod
    def from_object(cls, source: Any) -> Self:
        """Build from an entity's attributes (the in-memory path), nested included."""
        values: dict[str, Any] = {}
        for field in read_model_fields(cls):
            value = getattr(source, field.name, None)
            if field.nested is not None and value is not None:
                value = field.nested.from_object(value)
            values[field.name] = value
        return cast(Self, cls.model_construct(**values))


@dataclass(frozen=True, slots=True)
class ReadModelField:
    name: str
    nested: type[ReadModel] | None
    """The read model of a relationship field, ``None`` for a column."""


def _nested_model(annotation: Any) -> type[ReadModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, ReadModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            nested = _nested_model(arg)
            if nested is not None:
                return nested
    return None


@cache
def read_model_fields(model: type[ReadModel]) -> tuple[ReadModelField, ...]:
    """The fields of a read model; nested read models must be resolvable by now."""
    if not model.__pydantic_complete__:
        model.model_rebuild()
    return tuple(
        ReadModelField(name, _nested_model(info.annotation))
        for name, info in model.model_fields.items()
    )
