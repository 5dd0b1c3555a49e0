"""``Listing`` over HTTP: cursors bound to the whole query, control characters refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid
from sqlalchemy.orm import registry

from tiered.errors import ConfigurationError, install_problem_handlers
from tiered.http.listing import Listing, ListQuery, QueryFilter, cursor_codec, validate_listings
from tiered.repository import CursorCodec, CursorPage, Page, Repository


@dataclass
class Thing:
    id: int
    name: str
    price: int
    tag: str
    owner: UUID
    label: str


_things = Table(
    "listing_things",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("name", String(50), nullable=False),
    Column("price", Integer, nullable=False),
    Column("tag", String(50), nullable=False),
    Column("owner", Uuid, nullable=False),
    Column("label", String(50), nullable=False),
)
registry().map_imperatively(Thing, _things)


class ThingRepository(Repository[Thing]):
    model_class = Thing
    filter_fields = frozenset({"tag", "owner", "label"})
    sort_fields = frozenset({"name", "price"})
    search_fields = ("name",)


listing = Listing(ThingRepository, default_sort="name", filters=[QueryFilter("tag", many=True)])
Query = Annotated[ListQuery, Depends(listing.dependency())]


def _app() -> FastAPI:
    app = FastAPI()
    app.state.cursor_codec = CursorCodec("listing-test-secret")
    install_problem_handlers(app)

    @app.get("/things")
    async def things(query: Query) -> dict[str, Any]:
        after = query.page.after if isinstance(query.page, CursorPage) else None
        page: Page[str] = Page(items=[], limit=10, next_after=("pear", 7), order=query.order)
        return {
            "after": list(after) if after else None,
            "search": query.search,
            "filters": [[item.field, item.op, str(item.value)] for item in query.filters],
            "next_cursor": query.meta(page).next_cursor,
        }

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


QUERY = {"tag": ["a", "b"], "label": "x", "q": "pe", "sort": "-price"}


async def _cursor(client: httpx.AsyncClient, params: dict[str, Any]) -> str:
    response = await client.get("/things", params=params)
    assert response.status_code == 200, response.text
    cursor: str = response.json()["next_cursor"]
    return cursor


async def test_a_cursor_continues_its_own_query(client: httpx.AsyncClient) -> None:
    cursor = await _cursor(client, QUERY)
    response = await client.get("/things", params={**QUERY, "cursor": cursor, "limit": 50})
    assert response.status_code == 200, response.text
    assert response.json()["after"] == ["pear", 7]


async def test_repeated_values_in_another_order_are_the_same_query(
    client: httpx.AsyncClient,
) -> None:
    cursor = await _cursor(client, QUERY)
    response = await client.get("/things", params={**QUERY, "tag": ["b", "a"], "cursor": cursor})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "change",
    [
        {"tag": ["a"]},
        {"label": "y"},
        {"q": "p"},
        {"sort": "price"},
        {"owner": "00000000-0000-0000-0000-000000000001"},
    ],
    ids=lambda change: next(iter(change)),
)
async def test_a_cursor_sent_with_another_query_is_400(
    client: httpx.AsyncClient, change: dict[str, Any]
) -> None:
    cursor = await _cursor(client, QUERY)
    response = await client.get("/things", params={**QUERY, **change, "cursor": cursor})
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "INVALID_CURSOR"
    assert "belongs to a different query" in problem["detail"]
    assert problem["errors"] == [
        {"pointer": "/cursor", "detail": "belongs to a different query", "location": "query"}
    ]


async def test_a_dropped_filter_is_another_query(client: httpx.AsyncClient) -> None:
    cursor = await _cursor(client, QUERY)
    params = {key: value for key, value in QUERY.items() if key != "label"}
    response = await client.get("/things", params={**params, "cursor": cursor})
    assert (response.status_code, response.json()["code"]) == (400, "INVALID_CURSOR")


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x1f", "\x7f", "\t", "\n", "\r"])
@pytest.mark.parametrize("parameter", ["q", "sort", "cursor", "label", "tag"])
async def test_control_characters_in_text_values_are_400(
    client: httpx.AsyncClient, parameter: str, character: str
) -> None:
    value = {"sort": "name", "cursor": "abc"}.get(parameter, "text")
    response = await client.get("/things", params={parameter: value + character})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "INVALID_QUERY"
    assert problem["errors"] == [
        {
            "pointer": f"/{parameter}",
            "detail": f"{parameter} contains a control character",
            "location": "query",
        }
    ]


@pytest.mark.parametrize("text", ["café", "naïve → ünïcode", "\u00a0non-breaking", "emoji 🎲"])
async def test_other_text_is_accepted(client: httpx.AsyncClient, text: str) -> None:
    response = await client.get("/things", params={"q": text, "label": text})
    assert response.status_code == 200, response.text
    assert response.json()["search"] == text


async def test_a_control_character_in_a_typed_value_is_a_validation_error(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/things", params={"owner": "\x00"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/owner"


async def test_an_unknown_parameter_is_named_as_a_json_pointer(client: httpx.AsyncClient) -> None:
    response = await client.get("/things", params={"a/b~c": "1"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["pointer"] == "/a~1b~0c"


@pytest.mark.parametrize("parameter", ["limit", "sort", "label", "q"])
async def test_a_repeated_single_valued_parameter_is_400(
    client: httpx.AsyncClient, parameter: str
) -> None:
    value = {"limit": "2", "sort": "name"}.get(parameter, "x")
    response = await client.get("/things", params={parameter: [value, value]})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["pointer"] == f"/{parameter}"
    assert "more than once" in response.json()["detail"]


async def test_a_repeatable_filter_may_repeat(client: httpx.AsyncClient) -> None:
    response = await client.get("/things", params={"tag": ["a", "b"]})
    assert response.status_code == 200
    assert response.json()["filters"] == [["tag", "in", "('a', 'b')"]]


@pytest.mark.parametrize("limit", ["abc", "0", "101", "1000000"])
async def test_every_limit_the_schema_forbids_is_the_same_422(
    client: httpx.AsyncClient, limit: str
) -> None:
    response = await client.get("/things", params={"limit": limit})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == "/limit"


def test_the_schema_declares_the_bounds_it_enforces() -> None:
    parameters = _app().openapi()["paths"]["/things"]["get"]["parameters"]
    limit = next(p for p in parameters if p["name"] == "limit")["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, 100)
    names = {p["name"] for p in parameters}
    assert names == {"limit", "offset", "cursor", "sort", "q", "tag", "owner", "label"}


def test_filters_and_types_come_from_the_repository() -> None:
    by_name = {item.name: item for item in listing.filters}
    assert set(by_name) == {"tag", "owner", "label"}
    assert (by_name["owner"].annotation, by_name["tag"].many) == (UUID, True)


def test_a_filter_outside_the_repository_allow_list_fails_at_declaration() -> None:
    with pytest.raises(ConfigurationError, match="price not in its filter_fields"):
        Listing(ThingRepository, filters=[QueryFilter("max_price", field="price")])


def test_a_listing_without_a_cursor_codec_fails_at_startup() -> None:
    app = FastAPI()

    @app.get("/things")
    async def things(query: Query) -> None:
        del query

    with pytest.raises(ConfigurationError, match="needs a CursorCodec"):
        validate_listings(app)
    app.dependency_overrides[cursor_codec] = lambda: CursorCodec("another-secret")
    validate_listings(app)
