"""Which read models go to JSON without pydantic, and the page of rows as a sequence."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID, uuid4

import pytest
from pydantic import Field, PlainSerializer, computed_field, field_serializer, model_serializer
from sqlalchemy import inspect as inspect_mapper
from tests.contract.repository.domain import Item, ItemSummary

from tiered.repository import ReadModel
from tiered.repository.find_plan import read_plan
from tiered.repository.read_model import serialises_plainly
from tiered.repository.read_rows import ReadRows


class Colour(enum.StrEnum):
    RED = "red"


class Ref(ReadModel):
    id: UUID
    label: str | None


class Plain(ReadModel):
    id: UUID
    name: Annotated[str, Field(max_length=10)]
    count: int
    flag: bool
    amount: Decimal
    at: datetime
    on: date
    colour: Colour
    maybe: int | None
    ref: Ref | None


class WithFloat(ReadModel):
    ratio: float


class WithLiteral(ReadModel):
    kind: Literal["a", "b"]


class WithFieldSerializer(ReadModel):
    amount: Decimal

    @field_serializer("amount")
    def as_text(self, value: Decimal) -> str:
        return f"{value:.2f}"


class WithModelSerializer(ReadModel):
    amount: Decimal

    @model_serializer
    def whole(self) -> dict[str, str]:
        return {"amount": "hidden"}


class WithComputed(ReadModel):
    name: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def upper(self) -> str:
        return self.name.upper()


class WithAnnotatedSerializer(ReadModel):
    amount: Annotated[Decimal, PlainSerializer(float)]


class WithSerializationAlias(ReadModel):
    name: str = Field(serialization_alias="title")


class WithExcluded(ReadModel):
    name: str
    secret: str = Field(exclude=True)


class NestingAnOddOne(ReadModel):
    id: UUID
    inner: WithFloat | None


def test_a_model_of_plain_fields_serialises_plainly() -> None:
    assert serialises_plainly(Plain)


@pytest.mark.parametrize(
    "model",
    [
        WithFloat,
        WithLiteral,
        WithFieldSerializer,
        WithModelSerializer,
        WithComputed,
        WithAnnotatedSerializer,
        WithSerializationAlias,
        WithExcluded,
        NestingAnOddOne,
    ],
)
def test_a_model_pydantic_serialises_its_own_way_does_not(model: type[ReadModel]) -> None:
    assert not serialises_plainly(model)


def test_read_rows_are_a_sequence_of_models_built_once() -> None:
    plan = read_plan(inspect_mapper(Item), ItemSummary)
    ada = uuid4()
    rows = [
        (uuid4(), "first", Decimal("1.5"), "open", ada, "ada"),
        (uuid4(), "second", Decimal(2), "closed", None, None),
    ]
    items: ReadRows[ItemSummary] = ReadRows(rows, plan)
    assert len(items) == 2
    first, second = items
    assert items[0] is first, "built once"
    assert first.owner is not None
    assert (first.name, first.owner.name, second.owner) == ("first", "ada", None)
    assert items == [first, second]
    assert items[1:] == [second]
    assert items != [first]


def test_read_rows_hand_plain_values_to_an_encoder_in_field_order() -> None:
    plan = read_plan(inspect_mapper(Item), ItemSummary)
    item, ada = uuid4(), uuid4()
    ready = ReadRows([(item, "x", Decimal(3), "open", ada, "ada")], plan).json_ready()
    assert ready == [
        {
            "id": item,
            "name": "x",
            "score": Decimal(3),
            "status": "open",
            "owner": {"id": ada, "name": "ada"},
        }
    ]
    assert ready is not None
    assert list(ready[0]) == list(ItemSummary.model_fields)
