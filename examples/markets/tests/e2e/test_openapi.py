"""The markets OpenAPI document tells the truth: examples validate, declared problems happen.

Examples are checked against the document's own schemas with a small JSON
Schema subset validator (the keywords the document uses), and the routes are
called with bad input to show that each declared problem code is one they
really answer with, and that what they answer conforms to what they declare.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from markets.config import Settings
from markets.domain.markets import MarketStatus
from markets.domain.users import Actor
from markets.main import create_app
from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.markets import MarketDraft, MarketService
from markets.services.read_models import (
    EXAMPLE_MARKET_ID,
    CreatorRef,
    MarketDetail,
    MarketSummary,
)
from tiered.errors import problem_types
from tiered.testing import app_client

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}
LIST, ONE = "/api/v1/markets", "/api/v1/markets/{market_id}"
LISTING_CODES = {"INVALID_PAGE", "INVALID_SORT", "INVALID_CURSOR", "INVALID_QUERY"}


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """The document does not depend on the database: SQLite only."""
    return sqlite_url


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    settings = Settings(environment="test", database_url="sqlite+aiosqlite:///:memory:")
    return create_app(settings).openapi()


@pytest.fixture
async def client(database_url: str, database: object) -> AsyncIterator[httpx.AsyncClient]:
    del database  # migrated by the fixture
    app = create_app(Settings(environment="test", database_url=database_url, log_level="WARNING"))
    async with app_client(app) as client:
        yield client


@pytest.fixture
async def market_ids(
    new_uow: Callable[[], MarketsUnitOfWork], people: dict[str, Actor]
) -> list[str]:
    ids = []
    for index in range(3):
        detail = await MarketService(new_uow()).create(
            people["alice"], MarketDraft(f"market {index}", status=MarketStatus.ACTIVE)
        )
        ids.append(str(detail.id))
    return ids


def _is(value: Any, kind: str) -> bool:
    if kind in {"integer", "number", "boolean"} and isinstance(value, bool):
        return kind == "boolean"
    python = {
        "null": type(None),
        "boolean": bool,
        "integer": int,
        "number": int | float,
        "string": str,
        "array": list,
        "object": dict,
    }
    return isinstance(value, python[kind])


def _format_ok(value: str, fmt: str | None) -> bool:
    try:
        if fmt == "uuid":
            uuid.UUID(value)
        elif fmt == "date-time":
            datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def violations(  # noqa: PLR0912 - one branch per keyword reads best
    value: Any, schema: dict[str, Any], spec: dict[str, Any], at: str = ""
) -> list[str]:
    """Where ``value`` breaks ``schema`` (a JSON Schema subset: the keywords the document uses)."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        return violations(value, spec["components"]["schemas"][name], spec, at)
    if "anyOf" in schema and all(violations(value, item, spec, at) for item in schema["anyOf"]):
        return [f"{at or '/'}: {value!r} matches no option"]
    found: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is(value, kind) for kind in kinds):
            return [f"{at or '/'}: {value!r} is not {kinds}"]
    if "const" in schema and value != schema["const"]:
        found.append(f"{at}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{at}: {value!r} not in {schema['enum']}")
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and not schema.get("minimum", value) <= value <= schema.get("maximum", value):
        found.append(f"{at}: {value} out of bounds")
    if isinstance(value, str):
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            found.append(f"{at}: length {len(value)} out of bounds")
        if not _format_ok(value, schema.get("format")):
            found.append(f"{at}: {value!r} is not a {schema['format']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{at}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        found += [
            f"{at}/{name}: missing" for name in schema.get("required", []) if name not in value
        ]
        for name, item in value.items():
            if name in properties:
                found += violations(item, properties[name], spec, f"{at}/{name}")
            elif schema.get("additionalProperties") is False:
                found.append(f"{at}/{name}: not allowed")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += violations(item, schema["items"], spec, f"{at}/{index}")
    return found


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def problem_examples(spec: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for path, method, operation in operations(spec):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                for example in response["content"][PROBLEM_JSON]["examples"].values():
                    yield f"{method} {path}", status, response, example["value"]


def declared_codes(spec: dict[str, Any], path: str, status: int) -> set[str]:
    response = spec["paths"][path]["get"]["responses"][str(status)]
    return {
        example["value"]["code"]
        for example in response["content"][PROBLEM_JSON]["examples"].values()
    }


def assert_conforms(spec: dict[str, Any], path: str, response: httpx.Response) -> None:
    """What schemathesis checks per response: a declared status, body and headers as declared."""
    declared = spec["paths"][path]["get"]["responses"]
    assert str(response.status_code) in declared, f"{response.status_code} not declared on {path}"
    documented = declared[str(response.status_code)]
    for header in documented.get("headers", {}):
        assert header.lower() in response.headers, f"{header} missing on {response.status_code}"
    if "content" not in documented:
        assert response.content == b""
        return
    media_type = response.headers["content-type"].split(";")[0]
    assert media_type in documented["content"], media_type
    schema = documented["content"][media_type]["schema"]
    assert violations(response.json(), schema, spec) == []


def test_every_operation_has_a_description(spec: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for path, method, operation in operations(spec)
        if not operation.get("description", "").strip()
    ]
    assert len(list(operations(spec))) >= 7
    assert missing == []


def test_every_problem_example_is_a_problem_of_its_status(spec: dict[str, Any]) -> None:
    types = problem_types()
    checked = 0
    for where, status, response, value in problem_examples(spec):
        assert response["content"][PROBLEM_JSON]["schema"] == PROBLEM_REF
        assert violations(value, PROBLEM_REF, spec) == [], (where, status)
        assert value["status"] == int(status), (where, value)
        if value["type"] != "about:blank":
            problem = types[value["type"].removeprefix("/problems/")]
            assert (value["title"], problem.status) == (problem.title, int(status))
        assert value["code"]
        assert value["detail"]
        assert value["request_id"]
        assert value["instance"].startswith("/"), value
        assert "{" not in value["instance"], value
        checked += 1
    assert checked >= 20


def test_every_schema_example_validates_against_its_schema(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    with_examples = {name for name, schema in schemas.items() if schema.get("examples")}
    assert {
        "CreatorRef",
        "MarketSummary",
        "MarketDetail",
        "PageMeta",
        "ServiceInfo",
        "ApiResponse_MarketDetail_",
        "ApiResponse_ServiceInfo_",
        "PageResponse_MarketSummary_",
    } <= with_examples
    for name in with_examples:
        for example in schemas[name]["examples"]:
            assert violations(example, schemas[name], spec) == [], name


def test_dto_examples_validate_with_their_models(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for model in (CreatorRef, MarketSummary, MarketDetail):
        for example in schemas[model.__name__]["examples"]:
            assert model.model_validate(example).model_dump(mode="json") == example


def test_list_example_has_a_valid_page_and_single_resources_have_none(
    spec: dict[str, Any],
) -> None:
    schemas = spec["components"]["schemas"]
    page = schemas["PageResponse_MarketSummary_"]["examples"][0]
    limit = next(p for p in spec["paths"][LIST]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["minimum"] <= page["meta"]["limit"] <= limit["schema"]["maximum"]
    assert len(page["data"]) == page["meta"]["limit"]
    assert page["meta"]["total"] >= len(page["data"])
    assert re.fullmatch(r"[A-Za-z0-9_-]{20,}", page["meta"]["next_cursor"])
    single = schemas["ApiResponse_MarketDetail_"]
    assert single["examples"][0]["meta"] is None
    assert "$ref" not in str(single["properties"]["meta"])
    assert single["properties"]["meta"]["anyOf"][-1] == {"type": "null"}
    assert schemas["PageResponse_MarketSummary_"]["properties"]["meta"] == {
        "$ref": "#/components/schemas/PageMeta"
    }
    assert spec["paths"][LIST]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/PageResponse_MarketSummary_"}


def test_status_parameter_says_drafts_are_hidden(spec: dict[str, Any]) -> None:
    status = next(p for p in spec["paths"][LIST]["get"]["parameters"] if p["name"] == "status")
    assert "draft" in status["description"]
    assert "anonymous" in status["description"]
    assert "draft" in spec["paths"][LIST]["get"]["description"]


def declared_examples(spec: dict[str, Any], path: str, status: int) -> dict[str, Any]:
    response = spec["paths"][path]["get"]["responses"][str(status)]
    return {
        example["value"]["code"]: example["value"]
        for example in response["content"][PROBLEM_JSON]["examples"].values()
    }


async def test_list_examples_are_what_the_route_answers(
    spec: dict[str, Any], client: httpx.AsyncClient, market_ids: list[str]
) -> None:
    """Each 400 example, requested as it describes, comes back exactly as documented."""
    examples = declared_examples(spec, LIST, 400)
    assert set(examples) == LISTING_CODES
    first = await client.get(LIST, params={"limit": 1})
    cursor = first.json()["meta"]["next_cursor"]
    requests = {
        "INVALID_PAGE": {"offset": 1, "cursor": cursor},
        "INVALID_SORT": {"sort": "popularity"},
        "INVALID_CURSOR": {"cursor": "not-a-cursor"},
        "INVALID_QUERY": {"colour": "red"},
    }
    for code, params in requests.items():
        response = await client.get(LIST, params=params)
        assert response.status_code == 400, response.text
        assert_conforms(spec, LIST, response)
        body = response.json()
        assert body == {**examples[code], "request_id": body["request_id"]}


async def test_list_answers_only_declared_400s(
    spec: dict[str, Any], client: httpx.AsyncClient, market_ids: list[str]
) -> None:
    declared = declared_codes(spec, LIST, 400)
    first = await client.get(LIST, params={"limit": 1})
    assert_conforms(spec, LIST, first)
    cursor = first.json()["meta"]["next_cursor"]
    bad_inputs: list[Any] = [
        {"sort": "name,name"},
        {"sort": "-"},
        {"cursor": cursor, "sort": "name"},
        {"cursor": cursor + "x"},
        [("limit", "5"), ("limit", "6")],
        {"q": "a\x00b"},
        {"status": "active\n"},
    ]
    for params in bad_inputs:
        response = await client.get(LIST, params=params)
        assert response.status_code in {400, 422}, (params, response.text)
        assert_conforms(spec, LIST, response)
        assert response.json()["code"] in declared_codes(spec, LIST, response.status_code)
        assert response.status_code == 422 or response.json()["code"] in declared


async def test_list_pages_conform(
    spec: dict[str, Any], client: httpx.AsyncClient, market_ids: list[str]
) -> None:
    first = await client.get(LIST, params={"limit": 2})
    assert_conforms(spec, LIST, first)
    page = first.json()["meta"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    second = await client.get(LIST, params={"limit": 2, "cursor": page["next_cursor"]})
    assert_conforms(spec, LIST, second)
    assert second.json()["meta"] == {"total": None, "limit": 2, "offset": None, "next_cursor": None}
    invalid = await client.get(LIST, params={"limit": "many"})
    assert invalid.status_code == 422
    assert_conforms(spec, LIST, invalid)
    assert invalid.json()["code"] in declared_codes(spec, LIST, 422)


async def test_get_declares_market_not_found(
    spec: dict[str, Any], client: httpx.AsyncClient, market_ids: list[str]
) -> None:
    assert declared_codes(spec, ONE, 404) == {"MARKET_NOT_FOUND"}
    (example,) = spec["paths"][ONE]["get"]["responses"]["404"]["content"][PROBLEM_JSON][
        "examples"
    ].values()
    assert example["value"]["instance"] == f"/api/v1/markets/{EXAMPLE_MARKET_ID}"
    assert EXAMPLE_MARKET_ID in example["value"]["detail"]
    missing = await client.get(f"/api/v1/markets/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert_conforms(spec, ONE, missing)
    assert missing.json()["code"] in declared_codes(spec, ONE, 404)
    malformed = await client.get("/api/v1/markets/not-a-uuid")
    assert malformed.status_code == 422
    assert_conforms(spec, ONE, malformed)
    assert malformed.json()["code"] in declared_codes(spec, ONE, 422)
    (invalid,) = spec["paths"][ONE]["get"]["responses"]["422"]["content"][PROBLEM_JSON][
        "examples"
    ].values()
    assert invalid["value"]["errors"][0]["pointer"] == malformed.json()["errors"][0]["pointer"]
    assert invalid["value"]["instance"] == "/api/v1/markets/not-a-uuid"


def test_conditional_read_headers_are_declared(spec: dict[str, Any]) -> None:
    operation = spec["paths"][ONE]["get"]
    (header,) = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "If-None-Match"
    assert header["required"] is False
    assert "304" in header["description"]
    for status in ("200", "304"):
        assert operation["responses"][status]["headers"]["ETag"]["schema"]["type"] == "string"
    assert "content" not in operation["responses"]["304"]


async def test_if_none_match_still_earns_a_304(
    spec: dict[str, Any], client: httpx.AsyncClient, market_ids: list[str]
) -> None:
    path = f"/api/v1/markets/{market_ids[0]}"
    read = await client.get(path)
    assert read.status_code == 200
    assert_conforms(spec, ONE, read)
    etag = read.headers["etag"]
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = await client.get(path, headers={"If-None-Match": sent})
        assert again.status_code == 304, sent
        assert again.headers["etag"] == etag
        assert_conforms(spec, ONE, again)
    for sent in ('"other"', "not quoted"):
        full = await client.get(path, headers={"If-None-Match": sent})
        assert full.status_code == 200, sent
        assert full.content == read.content
