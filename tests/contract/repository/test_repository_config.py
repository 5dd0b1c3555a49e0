"""Declaration checks the SQL repository makes once per class."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid4

import pytest
from pydantic import BaseModel
from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import registry

from tiered.errors import ConfigurationError
from tiered.repository import ReadModel, Repository
from tiered.repository.read_model import read_model_fields


@dataclass
class Gadget:
    id: UUID
    label: str
    nick: str | None = None


_metadata = MetaData()
_gadgets = Table(
    "gadgets",
    _metadata,
    Column("id", Uuid, primary_key=True),
    Column("label", String(50), nullable=False),
    Column("nick", String(50), nullable=True),
    Column("rank", Integer, nullable=True),
)
registry(metadata=_metadata).map_imperatively(Gadget, _gadgets)


class GoodGadgets(Repository[Gadget]):
    model_class = Gadget
    sort_fields = frozenset({"label"})


class NullableSortGadgets(Repository[Gadget]):
    model_class = Gadget
    sort_fields = frozenset({"label", "nick"})


def test_nullable_sort_field_is_refused() -> None:
    session = AsyncSession()
    assert GoodGadgets(session).session is session
    with pytest.raises(ConfigurationError, match="nick"):
        NullableSortGadgets(session)


class Outer(ReadModel):
    id: UUID
    inner: Inner


class Inner(ReadModel):
    label: str


def test_read_model_with_a_later_nested_model_resolves() -> None:
    fields = {field.name: field.nested for field in read_model_fields(Outer)}
    assert fields == {"id": None, "inner": Inner}
    built = Outer.from_object(type("Row", (), {"id": uuid4(), "inner": Gadget(uuid4(), "x")})())
    assert built.inner.label == "x"
    assert isinstance(built, BaseModel)


def test_trusted_instances_behave_like_validated_ones() -> None:
    value = uuid4()
    built = Outer.trusted({"id": value, "inner": Inner.trusted({"label": "x"})})
    assert built == Outer(id=value, inner=Inner(label="x"))
    assert built.model_dump() == {"id": value, "inner": {"label": "x"}}
    assert built.model_fields_set == {"id", "inner"}
    with pytest.raises(ValueError, match="frozen"):
        built.id = uuid4()  # type: ignore[misc]


def test_aliases_are_refused_in_read_models() -> None:
    from pydantic import Field

    class Aliased(ReadModel):
        label: str = Field(alias="name")

    with pytest.raises(TypeError, match="aliases"):
        read_model_fields(Aliased)
