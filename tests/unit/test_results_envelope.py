from __future__ import annotations

from typing import Any, Union

import pytest
from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from tiered.envelope import ApiResponse, PageMeta, PageResponse
from tiered.results import Err, Ok, Result, UnwrapError


def divide(a: int, b: int) -> Result[float, ZeroDivisionError]:
    if b == 0:
        return Err(ZeroDivisionError("b is zero"))
    return Ok(a / b)


def test_ok_carries_value() -> None:
    result = divide(6, 3)
    assert result.success is True
    assert result.value == 2.0
    with pytest.raises(UnwrapError):
        _ = result.error


def test_err_carries_error() -> None:
    result = divide(1, 0)
    assert result.success is False
    assert isinstance(result.error, ZeroDivisionError)
    with pytest.raises(UnwrapError) as raised:
        _ = result.value
    assert isinstance(raised.value.__cause__, ZeroDivisionError)


def test_results_match_structurally() -> None:
    match divide(1, 0):
        case Ok(value):
            outcome = f"ok {value}"
        case Err(error):
            outcome = f"err {error}"
    assert outcome == "err b is zero"


def test_results_are_slotted_and_immutable() -> None:
    result = Ok(1)
    assert not hasattr(result, "__dict__")
    with pytest.raises(AttributeError):
        result.value = 2  # type: ignore[misc]


def test_envelope_shape() -> None:
    body = ApiResponse.of([1, 2], PageMeta(total=2, limit=50, offset=0)).model_dump()
    assert body == {
        "success": True,
        "data": [1, 2],
        "meta": {"total": 2, "limit": 50, "offset": 0, "next_cursor": None},
    }
    assert ApiResponse.of("x").model_dump() == {"success": True, "data": "x", "meta": None}


def test_page_envelope_shape() -> None:
    meta = PageMeta(total=2, limit=50, offset=0)
    body = PageResponse.of(iter([1, 2]), meta).model_dump()
    assert body == {
        "success": True,
        "data": [1, 2],
        "meta": {"total": 2, "limit": 50, "offset": 0, "next_cursor": None},
    }
    assert body == ApiResponse.of([1, 2], meta).model_dump()


def test_page_meta_refuses_impossible_pages() -> None:
    for values in ({"limit": 0}, {"limit": 5, "total": -1}, {"limit": 5, "offset": -1}):
        with pytest.raises(PydanticValidationError):
            PageMeta.model_validate(values)


def test_page_meta_examples_are_page_metas() -> None:
    examples = PageMeta.model_json_schema()["examples"]
    assert len(examples) == 2
    for example in examples:
        assert PageMeta.model_validate(example).model_dump() == example
        assert example["next_cursor"]


class Item(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": 1, "note": None}, {"id": 2, "note": "second"}]}
    )

    id: int
    note: str | None


class Bare(BaseModel):
    id: int


def response_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(mode="serialization")


def test_single_resource_example_has_no_page() -> None:
    schema = response_schema(ApiResponse[Item])
    assert schema["examples"] == [{"success": True, "data": {"id": 1, "note": None}, "meta": None}]
    assert "$ref" not in str(schema["properties"]["meta"])
    assert {"type": "null"} in schema["properties"]["meta"]["anyOf"]
    assert set(schema["required"]) == {"success", "data", "meta"}
    ApiResponse[Item].model_validate(schema["examples"][0])


def test_page_example_is_a_consistent_page() -> None:
    schema = response_schema(PageResponse[Item])
    (example,) = schema["examples"]
    assert example["data"] == [{"id": 1, "note": None}, {"id": 2, "note": "second"}]
    meta = example["meta"]
    assert meta["limit"] == len(example["data"])
    assert meta["total"] >= len(example["data"])
    assert meta["offset"] == 0
    assert isinstance(meta["next_cursor"], str)
    assert schema["properties"]["meta"] == {"$ref": "#/$defs/PageMeta"}
    assert set(schema["required"]) == {"success", "data", "meta"}
    PageResponse[Item].model_validate(example)


def test_envelopes_of_types_without_examples_have_none() -> None:
    assert "examples" not in response_schema(ApiResponse[Bare])
    assert "examples" not in response_schema(PageResponse[Bare])
    assert "examples" not in response_schema(ApiResponse[int])
    list_of_items = response_schema(ApiResponse[list[Item]])
    assert list_of_items["examples"][0]["data"][1]["id"] == 2


async def test_json_response_sends_what_the_response_model_would() -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    import httpx
    from fastapi import FastAPI
    from pydantic import BaseModel
    from starlette.responses import Response

    from tiered.envelope import PageMeta, PageResponse, json_response

    class Row(BaseModel):
        name: str
        price: Decimal
        at: datetime

    rows = [Row(name="café ☕", price=Decimal("1.50"), at=datetime(2026, 1, 2, tzinfo=UTC))]
    meta = PageMeta(total=1, limit=20, offset=0)
    app = FastAPI()

    @app.get("/validated", response_model=PageResponse[Row])
    async def validated() -> PageResponse[Row]:
        return PageResponse.of(rows, meta)

    @app.get("/direct", response_model=PageResponse[Row])
    async def direct() -> Response:
        return json_response(PageResponse[Row].of(rows, meta), headers={"X-Kind": "direct"})

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        slow, fast = await client.get("/validated"), await client.get("/direct")
    assert fast.json() == slow.json()
    assert fast.headers["content-type"] == "application/json"
    assert fast.headers["x-kind"] == "direct"
    assert app.openapi()["paths"]["/direct"] == {
        **app.openapi()["paths"]["/validated"],
        "get": {
            **app.openapi()["paths"]["/validated"]["get"],
            "operationId": "direct_direct_get",
            "summary": "Direct",
        },
    }


class _Pet(BaseModel):
    name: str


def test_an_envelope_of_a_model_class_is_made_once() -> None:
    assert ApiResponse[_Pet] is ApiResponse[_Pet]
    assert PageResponse[_Pet] is PageResponse[_Pet]
    assert len({ApiResponse[_Pet], PageResponse[_Pet]}) == 2
    assert ApiResponse[_Pet](data=_Pet(name="Rex")).model_dump() == {
        "success": True,
        "data": {"name": "Rex"},
        "meta": None,
    }


def test_an_envelope_of_a_union_keeps_its_members_order() -> None:
    def members(envelope: type[BaseModel]) -> list[str]:
        schema = envelope.model_json_schema()["properties"]["data"]
        return [member["type"] for member in schema["anyOf"]]

    assert members(ApiResponse[Union[int, str]]) == ["integer", "string"]  # noqa: UP007
    assert members(ApiResponse[Union[str, int]]) == ["string", "integer"]  # noqa: UP007
