"""A page of read models goes to JSON without a model per row, in exactly pydantic's bytes.

``PageResponse[T].respond`` takes the repository's rows straight to orjson when
``T`` serialises plainly; the bytes must be those the response model documents
(pydantic's own serialisation of the same page), for every backend and for
awkward values: non-ASCII and control characters, quotes and backslashes,
decimals of every scale, datetimes with and without microseconds.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from pydantic import computed_field, field_serializer
from tests.contract.repository.conftest import BASE_TIME, Backend
from tests.contract.repository.domain import Item, ItemSummary, Owner, OwnerRef

from tiered.envelope import PageMeta, PageResponse, json_response
from tiered.repository import OffsetPage, ReadModel, SortKey

pytestmark = pytest.mark.asyncio(loop_scope="session")

NAMES = (
    "Zoë «ünïcode» 😀",
    'quote " and back\\slash',
    "controls \x01\x08\t\n\r\x1f\x7f",
    "separators \u2028\u2029 and </script>",
    "",
    "Łukasz",
)
SCORES = (
    Decimal("0.0001"),
    Decimal("12345678901234.5678"),
    Decimal("-3.5"),
    Decimal(0),
    Decimal("1E+3"),
    Decimal("42"),
)


class ItemJson(ReadModel):
    id: UUID
    name: str
    score: Decimal
    status: str
    created_at: datetime
    version: int
    owner: OwnerRef | None


class ScoreAsFloat(ReadModel):
    id: UUID
    score: Decimal

    @field_serializer("score")
    def as_float(self, value: Decimal) -> float:
        return float(value)


class WithComputed(ReadModel):
    id: UUID
    name: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def shout(self) -> str:
        return self.name.upper()


async def _seed(backend: Backend) -> None:
    owner = Owner(uuid.uuid4(), "Ærøskøbing ☃")
    await backend.owners.create(owner)
    await backend.items.create_many(
        Item(
            uuid.uuid4(),
            name,
            owner.id,
            ("open", "closed")[index % 2],
            score,
            BASE_TIME + timedelta(minutes=index, microseconds=index * 120_001 % 1_000_000),
        )
        for index, (name, score) in enumerate(zip(NAMES, SCORES, strict=True))
    )


def _pydantic_bytes(model: Any, items: list[Any], meta: PageMeta) -> bytes:
    return bytes(json_response(PageResponse[model].of(items, meta)).body)


async def _page(backend: Backend, model: type[ReadModel]) -> tuple[Any, PageMeta]:
    page = await backend.items.find(sort=[SortKey("name")], page=OffsetPage(50, 0), into=model)
    meta = PageMeta(total=page.total, limit=50, offset=0, next_cursor="abc_-")
    return page, meta


async def test_a_page_goes_to_json_in_pydantics_exact_bytes(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(backend)
    page, meta = await _page(backend, ItemJson)
    built: list[type[ReadModel]] = []
    trusted = ReadModel.trusted.__func__  # type: ignore[attr-defined]

    def counted(cls: type[ReadModel], values: dict[str, Any]) -> ReadModel:
        built.append(cls)
        return trusted(cls, values)  # type: ignore[no-any-return]

    monkeypatch.setattr(ReadModel, "trusted", classmethod(counted))
    fast = bytes(PageResponse[ItemJson].respond(page.items, meta).body)
    if backend.is_sql:
        assert built == [], "the SQL backends' pages go to JSON without a model per row"
    assert fast == _pydantic_bytes(ItemJson, list(page.items), meta)
    assert len(page.items) == len(NAMES)
    assert PageResponse[ItemJson].model_validate_json(fast).data == list(page.items)


@pytest.mark.parametrize("model", [ScoreAsFloat, WithComputed], ids=["serializer", "computed"])
async def test_a_model_pydantic_serialises_its_own_way_takes_pydantics_path(
    backend: Backend, model: type[ReadModel]
) -> None:
    await _seed(backend)
    page, meta = await _page(backend, model)
    fast = bytes(PageResponse[model].respond(page.items, meta).body)  # type: ignore[valid-type]
    assert fast == _pydantic_bytes(model, list(page.items), meta)
    assert (b'"shout"' in fast) is (model is WithComputed)


async def test_rows_of_another_model_take_pydantics_path(backend: Backend) -> None:
    """The page's item type decides what is written: a narrower one drops fields."""
    await _seed(backend)
    page, meta = await _page(backend, ItemJson)
    fast = bytes(PageResponse[ItemSummary].respond(page.items, meta).body)
    assert b'"created_at"' not in fast
    assert fast.count(b'"name"') == len(NAMES) * 2  # each item's and its owner's
