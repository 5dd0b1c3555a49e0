"""``Listing`` over HTTP: cursors bound to the whole query, control characters refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

import httpx
import pytest
from fastapi import Depends, FastAPI

from tiered.errors import install_problem_handlers
from tiered.http.listing import Listing, ListQuery, QueryFilter
from tiered.repository import CursorCodec, CursorPage, Page

listing = Listing(
    sort_fields={"name", "price"},
    default_sort="name",
    filters=[
        QueryFilter("tag", str, many=True),
        QueryFilter("owner", UUID),
        QueryFilter("label", str),
    ],
    search=True,
)
Query = Annotated[ListQuery, Depends(listing.dependency())]


def _app() -> FastAPI:
    app = FastAPI()
    app.state.cursor_codec = CursorCodec("listing-test-secret")
    install_problem_handlers(app)

    @app.get("/things")
    async def things(query: Query) -> dict[str, Any]:
        after = query.page.after if isinstance(query.page, CursorPage) else None
        page: Page[str] = Page(items=[], limit=10, next_after=("pear", 7))
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
