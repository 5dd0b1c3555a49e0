"""Read models: the DTO a list endpoint returns, built without the ORM.

A read model names the columns it needs; a field whose type is another read
model names a relationship (``creator: CreatorRef`` → the ``creator``
relationship). Repositories select exactly those columns (joins included) and
build instances with :meth:`ReadModel.trusted`: rows from our own database are
trusted, so per-row validation would be pure cost.
"""

from __future__ import annotations

import enum
import types
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, Self, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ConfigDict

__all__ = ["ReadModel", "ReadModelField", "read_model_fields", "serialises_plainly"]


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
        return cls.trusted(values)

    @classmethod
    def trusted(cls, values: dict[str, Any]) -> Self:
        """An instance from a complete dict of already-correct values, without validation.

        What ``model_construct`` does minus its per-field alias and default
        handling, which a read model does not use (aliases and private
        attributes are refused when its fields are first read): several times
        cheaper, and paid once per row.
        """
        instance = cls.__new__(cls)
        _set(instance, "__dict__", values)
        _set(instance, "__pydantic_fields_set__", _field_names(cls))
        _set(instance, "__pydantic_extra__", None)
        _set(instance, "__pydantic_private__", None)
        return instance


_set = object.__setattr__


@cache
def _field_names(model: type[ReadModel]) -> set[str]:
    return set(model.model_fields)


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
    unsupported = [
        name
        for name, info in model.model_fields.items()
        if info.alias is not None or info.validation_alias is not None
    ]
    if unsupported or model.__private_attributes__ or model.__pydantic_post_init__:
        raise TypeError(
            f"{model.__name__}: read models cannot use aliases, private attributes or "
            f"model_post_init ({', '.join(unsupported) or 'private/post-init'})"
        )
    return tuple(
        ReadModelField(name, _nested_model(info.annotation))
        for name, info in model.model_fields.items()
    )


_PLAIN_TYPES = (str, int, bool, uuid.UUID, datetime, date, Decimal, enum.Enum)
"""Types whose JSON pydantic writes exactly as orjson does (``OPT_UTC_Z``, decimals as
strings): checked value by value in the tests."""


def _plain_annotation(annotation: Any) -> bool:
    if annotation is type(None):
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return all(_plain_annotation(arg) for arg in get_args(annotation))
    if not isinstance(annotation, type):
        return False
    if issubclass(annotation, ReadModel):
        return serialises_plainly(annotation)
    return issubclass(annotation, _PLAIN_TYPES) and not issubclass(annotation, float)


@cache
def serialises_plainly(model: type[ReadModel]) -> bool:
    """Whether the model's JSON is its fields' values as they are, in declaration order.

    Then a row can go to JSON without a model (see ``ReadRows.json_ready``). Not so
    for a field pydantic serialises its own way (a float, a custom type, a
    serializer, an alias, an exclusion) or a model with serializers or computed
    fields: those take pydantic's path.
    """
    decorators = model.__pydantic_decorators__
    if decorators.field_serializers or decorators.model_serializers:
        return False
    if decorators.computed_fields or model.model_config.get("ser_json_bytes"):
        return False
    for info in model.model_fields.values():
        if info.serialization_alias is not None or info.exclude or info.exclude_if is not None:
            return False
        if any(not isinstance(item, annotated_types.BaseMetadata) for item in info.metadata):
            return False
        if not _plain_annotation(info.annotation):
            return False
    return True
